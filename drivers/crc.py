# CRCs used on the wire. Table-driven and viper-compiled: frames are checked at
# the full sample rate, so these are hot paths (no allocation, 32-bit safe).
import micropython

# CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ADS131M0x frames and ADE9000 SPI CRC.
# The table (256 big-endian u16) is public for viper kernels that inline the
# CRC in a larger loop (drivers/ads131m04.py).
T16 = bytearray(512)


def _mk16():
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        c &= 0xFFFF
        T16[2 * i] = c >> 8
        T16[2 * i + 1] = c & 0xFF


_mk16()


@micropython.viper
def _crc16(buf: ptr8, start: int, n: int, init: int, tab: ptr8) -> int:
    c = init
    i = start
    end = start + n
    while i < end:
        j = ((c >> 8) ^ buf[i]) & 0xFF
        c = (((c << 8) & 0xFF00) ^ ((tab[2 * j] << 8) | tab[2 * j + 1]))
        i += 1
    return c


def crc16_ccitt(buf, start=0, n=-1, init=0xFFFF):
    if n < 0:
        n = len(buf) - start
    return _crc16(buf, start, n, init, T16)


# CRC-8 (poly 0x31, init 0xFF): Sensirion SHT4x words.
def crc8_sensirion(data, start=0, n=2):
    c = 0xFF
    for i in range(start, start + n):
        c ^= data[i]
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c
