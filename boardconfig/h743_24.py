# Board: h743_24, a 24-outlet 3-phase rack PDU controller on an STM32H743
# (Cortex-M7, 480 MHz, 1 MB RAM; MicroPython's stm32 port). Same topology and
# channel names as sim24, which simulates it; see boardconfig/h743_24_layout.py
# for the buses, chips, AFE scaling, channels, branches and outlets.
#
# Pin choices (LQFP176): SPI1 (PA5/PA6/PA7) to the AFE bus with eight CS lines
# on PG0-PG7 and the shared DRDY on PG8 (EXTI8), SPI2 (PB13/PB14/PB15) to the
# ADE9000 with IRQ0/IRQ1 on PE8/PE9, SPI3 (PC10/PC11/PC12) to the FRAM, I2C1
# (PB8/PB9) and I2C2 (PF1/PF0) to the SHT4x pair, USART2 (PD5/PD6, DE on PD4)
# to the RS-485 transceiver, ADC1 inputs PA0-PA3 for the relay-board NTCs,
# relay coils on ports H/I/J, relay feedback on PK0-7/PD8-15/PF8-11, SSR gates
# PE0-PE3 and SSR feedback PE4-PE7. Ethernet (RMII) uses the standard
# NUCLEO-H743 pins and is not described here.
from boardconfig.h743_24_layout import *  # noqa: F401,F403

NAME = "h743_24"
PLATFORM = "mcu"
MCU = "STM32H743ZI (Cortex-M7 480 MHz, 1 MB SRAM, 2 MB flash)"
SERVICES = {"http_port": 80, "modbus_port": 502, "snmp_port": 161,
            "mqtt_host": "", "mqtt_port": 1883}
