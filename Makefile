# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run stop test install deps web web-test lint typecheck pytest stack-down lock clean

# The whole platform on this machine: the five servers, then the platform's processes
# (ingest, workers, ack relay, a simulator with VPP_EDGE_SIM__NODES nodes) and the schedules.
run: install web
	$(BIN)/vpp stack up
	$(BIN)/vpp nodes seed
	$(BIN)/vpp data import citylearn
	$(BIN)/vpp schedules apply
	$(BIN)/vpp platform up
	@echo
	@echo "Dashboard     http://127.0.0.1:8000/  (vpp-operator / vpp-operator-dev)"
	@echo "API, GraphiQL http://127.0.0.1:8000/graphql   REST http://127.0.0.1:8000/docs"
	@echo "Temporal UI   http://127.0.0.1:8233/namespaces/vpp/workflows"
	@echo "Keycloak      http://127.0.0.1:8080/admin  (admin / admin-dev)"
	@echo "Simulator     http://127.0.0.1:8101/nodes"
	@echo "Ingest        http://127.0.0.1:9101/metrics"
	@echo "Logs: .vpp/logs/   Status: .venv/bin/vpp stack status; .venv/bin/vpp platform status"
	@echo "Stop with: make stop"

stop:
	-$(BIN)/vpp platform down
	$(BIN)/vpp stack down

test: install web lint typecheck web-test pytest

install: deps
	./scripts/install-python.sh

deps:
	./scripts/install-system.sh

# The operator dashboard (web/, TypeScript): npm ci + build into web/dist, served at /.
web:
	./scripts/build-web.sh

web-test: web
	cd web && npm test --silent

lint:
	$(BIN)/ruff check vpp tests bench
	$(BIN)/ruff format --check vpp tests bench

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q -ra

stack-down: stop

# `make run`, plus Prometheus (Debian's package) scraping every process, on loopback.
run-observability: run
	$(BIN)/vpp observability up
	@echo "Prometheus    http://127.0.0.1:9190/alerts  (VPP_METRICS__PROMETHEUS_PORT)"

stop-observability:
	$(BIN)/vpp observability down

# Re-resolve requirements.lock from pyproject.toml in a scratch virtualenv.
lock:
	rm -rf /tmp/vpp-lock && python3 -m venv /tmp/vpp-lock
	/tmp/vpp-lock/bin/pip install -q -e '.[dev]'
	( echo "# Exact versions of every dependency, resolved together on Python 3.11 (linux x86_64)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  /tmp/vpp-lock/bin/pip freeze --all --exclude-editable | grep -v -i -E '^(vpp|pip)==' ) > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
