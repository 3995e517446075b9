# The two commands a newcomer needs (README): `make demo` and `make test`.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: demo test env bench

env:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

demo: env
	$(UV) run dvc repro
	$(UV) run conchshell generate data/prepared/images/$$(sed -n '2p' data/prepared/manifest.csv | cut -d, -f1).png -o samples/generated
	@echo "report: $$(pwd)/report.html"

test: env
	$(UV) run pytest -q

bench: env
	for b in benchmarks/*.py; do $(UV) run python $$b; done
