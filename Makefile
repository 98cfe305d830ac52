# make demo : install into .venv, build every buildable variant at a small size into ./out, verify, preview
# make test : install into .venv (if needed) and run the whole test suite (.ci/run calls exactly this)
# make mutants : mutation testing (cosmic-ray) of the promise-carrying modules; an hour or more on 2 cores
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever the declared or pinned dependencies change.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
export RAY_USAGE_STATS_ENABLED ?= 0
# Ray token authentication stays on everywhere but in the tests: the demo's build starts a local Ray
# runtime, which gets a random token of its own (factory/pipeline/distribute.py).

DEMO_OUT    ?= out
DEMO_VIDEOS ?= 8
# Small enough for a 2-core machine in about a minute (36 s measured, previews included): 128 px frames,
# 20-30 frame videos, 8-item pools of 32 px items (the latent-walk variants render one StyleGAN clip per
# pool item or video, the slowest part on a CPU). Drop these settings for real builds.
DEMO_SIZE   ?= --size 128 --frames 20-30 --pool-size 8 --param item_px=32 --param clip_frames=30

.PHONY: install demo test bench clean mutants

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch + torchvision first, pinned: this machine kind serves these builds from local disk, while an
	# unpinned torch would pull several GB of CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[factory,stylegan,s3,trainer,test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/synthvid-factory list
	$(BIN)/synthvid-factory build --all --out $(DEMO_OUT) --videos $(DEMO_VIDEOS) --videos-per-shard 4 --workers 2 $(DEMO_SIZE)
	$(BIN)/synthvid-factory verify $(DEMO_OUT)
	mkdir -p $(DEMO_OUT)/previews
	$(BIN)/synthvid-factory preview --all --out $(DEMO_OUT)/previews/gallery.png $(DEMO_SIZE) --pools-cache $(DEMO_OUT)/_pools
	$(BIN)/synthvid-factory preview accelerating-shapes --out $(DEMO_OUT)/previews/accelerating-shapes.gif
	@echo
	@echo "Datasets:  $(DEMO_OUT)/<variant>/ (shards *.tar, manifest-*.parquet, card.json)"
	@echo "Previews:  $(DEMO_OUT)/previews/gallery.png, $(DEMO_OUT)/previews/accelerating-shapes.gif"

test: install
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest -q -p no:cacheprovider

# Sessions are kept in .mutants/ (an interrupted run continues); MUTANTS_ARGS=--fresh starts anew,
# --rerun-survivors gives the survivors to new tests, --group NAME runs one group (tests/mutation/mutants.py).
mutants: install
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[mutation]'
	PATH=$(abspath $(BIN)):$$PATH nice $(BIN)/python tests/mutation/mutants.py $(MUTANTS_ARGS)

bench: install
	$(BIN)/python benchmarks/factory_throughput.py

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
