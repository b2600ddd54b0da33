# A relay's contacts close operate_ms after the set coil rises, and the plant's
# outlet current starts at that exact sample, not at a block boundary.
import json
from sim.pdu import sim_pdu

pdu = sim_pdu("sim24", virtual=True, power_on="none")
b = pdu.board
b.plant.plug(4, {"kind": "resistive", "irms": 5.0})
pdu.acq.start()
codes = []
pdu.acq.consumers.append(lambda acq: codes.extend(acq.group[1][4 * j + 1] for j in range(acq.n_group)))
clock = pdu.clock
for _ in range(3):
    clock.advance_us(10000)
    pdu.acq.poll()
clock.advance_us(1337)          # not on a block boundary
pdu.acq.poll()
t_cmd = clock.now_us()
sw = pdu.switches[4]
sw.request(True, clock.ticks_ms())
for _ in range(6):
    clock.advance_us(10000)
    pdu.acq.poll()
    sw.service(clock.ticks_ms())
first = next(i for i, c in enumerate(codes) if c != 0)
tw = b.switch_twins[4]
print(json.dumps({"t_cmd_us": t_cmd, "first_sample": first, "since": tw.contacts_since,
                  "operate_us": tw.operate_us, "min_pulse_us": tw.min_pulse_us, "feedback": sw.feedback()}))
