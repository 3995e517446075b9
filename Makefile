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
	@id=$$(awk -F, '$$4 == "val" {print $$1; exit}' data/prepared/manifest.csv); \
	$(UV) run conchshell generate data/prepared/images/$$id.png -o generated --overwrite && \
	echo "report: $$(pwd)/report.html" && echo "music:  $$(pwd)/generated/$$id.wav (from data/prepared/images/$$id.png)"

# lint and format check first (seconds), then the suite; bytecode caching on: the suite starts many Python
# processes (stages, torchrun, the CLI)
test: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports
	env -u PYTHONDONTWRITEBYTECODE $(UV) run pytest -q

bench: env
	for b in benchmarks/*.py; do $(UV) run python $$b; done
