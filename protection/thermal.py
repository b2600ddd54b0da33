# Thermal protection of the outlet switches: estimate where failure begins (the
# switch itself) from the relay-board NTC it sits next to plus its own
# conduction loss, then derate, and trip when derating is not enough.
#
#   loss   triac SSR: I_rms x V_on (the board's OUTLETS[n]["v_on"]);
#          relay: I_rms^2 x contact resistance (relay_r_mohm)
#   T_est  = T_ntc + loss x Rth (ssr_rth_k_w / relay_rth_k_w): the switch above
#          the heatsink/board the NTC measures
#   allowed current = rating x (T_end - T_est) / (T_end - T_start), within
#          [0, rating]: full rating up to T_start, none at T_end (the linear
#          derating curve of SSR datasheets)
# Ladder (evaluated once a second): T_est >= T_start: DERATE - the outlet's
# inverse-time pickup becomes the allowed current, so a load above it is
# timed out on the same I^2t curve; T_est >= T_end: TRIP; back below
# T_start - hysteresis: derating ends and the pickup is restored.


def loss_w(kind, i_rms, v_on, r_ohm):
    if kind == "triac":
        return i_rms * v_on
    return i_rms * i_rms * r_ohm


def params(s, kind):
    """(rth K/W, start C, end C, r_contact ohm) for a switch kind from settings."""
    if kind == "triac":
        return s["ssr_rth_k_w"], s["ssr_derate_start_c"], s["ssr_derate_end_c"], 0.0
    return s["relay_rth_k_w"], s["relay_derate_start_c"], s["relay_derate_end_c"], s["relay_r_mohm"] / 1000.0


def allowed_a(rating, t_est, t_start, t_end):
    if t_est <= t_start:
        return rating
    if t_est >= t_end:
        return 0.0
    return rating * (t_end - t_est) / (t_end - t_start)
