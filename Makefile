# The two commands a new machine needs: `make run` and `make test`.
# Both first set up whatever is missing (scripts/setup.sh is safe to repeat).

.PHONY: run test check setup bench screenshot

run:
	@bash scripts/setup.sh
	.venv/bin/python -m server $(ARGS)

test:
	@bash scripts/setup.sh --services
	.venv/bin/python -m pytest $(ARGS)
	.venv/bin/python -m pytest tests/browser -p no:tornado $(ARGS)

check: test
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/mypy

bench:
	@bash scripts/setup.sh
	.venv/bin/python bench/scenarios.py $(ARGS)

# Refresh the README's screenshot from the one the browser tests take.
screenshot:
	@bash scripts/setup.sh --services
	.venv/bin/python -m pytest tests/browser -p no:tornado -k screenshot -q
	mkdir -p docs && cp tests/browser/artifacts/chat-desktop.png docs/chat.png
