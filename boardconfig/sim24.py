# Board: sim24, the simulated twin of h743_24 (same topology, same channel
# names), run on MicroPython's unix port. Pin names are kept identical to
# h743_24 so a scenario, fixture or uplink tool works on either.
#
# Topology: 3-phase wye 230/400 V 50 Hz, 32 A inlet measured by one ADE9000
# (VA/VB/VC, IA/IB/IC, IN); 6 branches with 16 A breakers (2 per phase);
# 24 switched outlets in 8 groups of 3, each group measured by one ADS131M04
# (ch0 the group's phase voltage, ch1..3 the three outlet currents, so voltage
# and currents of a group are sampled simultaneously); outlets 1-20 on latching
# relays, 21-24 on triac SSRs; 256 KB SPI FRAM; two SHT4x (inlet and exhaust
# air) and four relay-board NTCs.
#
# Copy board files like this one (or h743_24.py) for a new PCB: everything the
# firmware knows about hardware is here.
from boardconfig.h743_24_layout import *  # noqa: F401,F403  (shared with h743_24)

NAME = "sim24"
PLATFORM = "sim"  # "sim": sim.hw peripherals and twins; "mcu": machine.*
MCU = "unix port (simulated STM32H743-class controller)"
