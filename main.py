# MCU entry point: MicroPython runs /main.py after boot.py. Boots the board this
# image was built for; change BOARD when you copy a board file for your PCB.
BOARD = "h743_24"

from boardconfig.board import open_board  # noqa: E402
from firmware.boot import Pdu  # noqa: E402

Pdu(open_board(BOARD), console=print, listen="config").run()
