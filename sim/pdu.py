# The simulated PDU: firmware.boot.Pdu on a SimBoard. The simulation picks the
# simulated machine (boardconfig never imports sim/); a real board is opened
# with boardconfig.board.open_board and handed to Pdu the same way.
from core.clock import RealClock, VirtualClock
from firmware.boot import Pdu
from sim.world import open_sim_board


def sim_pdu(board="sim24", *, virtual=False, clock=None, console=None, power_on="all", stagger_ms=250,
            prot_values=None, listen=None, **sim_opts):
    """Boot `board` on simulated hardware. sim_opts go to SimBoard (seed,
    scenario fixture, fram_file, flash_file, uart_fd, twin_overrides, ...);
    real time unless `virtual` or a virtual `clock` is given. listen: the
    uplinks' addresses ({"http": (host, port), "https": (host, port, cert,
    key)}); none by default."""
    clock = clock or (VirtualClock() if virtual else RealClock())
    if "realtime" not in sim_opts:
        sim_opts["realtime"] = not clock.virtual
    b = open_sim_board(board, clock=clock, **sim_opts)
    return Pdu(b, clock=clock, console=console, power_on=power_on, stagger_ms=stagger_ms,
               prot_values=prot_values, listen=listen or {})
