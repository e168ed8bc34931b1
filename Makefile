# scalegrid: every target installs what it needs first (`make install` is implied).
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Torch comes first, pinned: these builds are the ones available on the project's machines.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-slow lint format train grid demo study report tensorboard bench bench-gpu models clean

GRID ?= outputs/grids/demo
SIZE ?= full
# The studies: conf/experiment/<name>.yaml, less shared bases (_*), sources (*_source, trained by `make study`) and
# the demo (`make demo`).
STUDIES := $(filter-out %_source demo,$(sort $(basename $(notdir $(wildcard conf/experiment/[!_]*.yaml)))))
# The studies with a preset at SIZE (conf/study_size/<study>/<size>.yaml); every study runs at full size.
SIZED = $(sort $(if $(filter full,$(SIZE)),$(STUDIES),$(foreach s,$(STUDIES),$(if $(wildcard conf/study_size/$(s)/$(SIZE).yaml),$(s)))))
# A study's grid folder: outputs/grids/<study> at full size, outputs/grids/<study>_<size> otherwise.
STUDY_GRID = outputs/grids/$(STUDY)$(if $(filter-out full,$(SIZE)),_$(SIZE))

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

test: install            ## the default suite (tests marked slow excluded)
	$(PY) -m pytest

test-slow: install       ## only the slow tests
	$(PY) -m pytest -m slow

lint: install            ## ruff lint + format check
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format: install
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

train: install           ## the main job: ResNet-18 on CIFAR-10 (set DATA_DIR to your data folder)
	$(PY) src/train.py $(ARGS)

demo: install            ## the main command: a real 60-cell grid on CIFAR-10 (about 5 min on 2 cores), its report and Answers
	$(PY) src/train.py experiment=demo_source $(ARGS)
	$(PY) src/train.py experiment=demo $(ARGS)
	$(PY) src/report.py outputs/grids/demo
	@# the report's Answers on the terminal, up to the note on how its intervals were made
	@sed -n '/^## Answers/,/^Intervals are/{/^Intervals are/!p}' outputs/grids/demo/report/report.md

grid: install            ## the full model-size x data-size x pretraining grid (36 runs; a GPU job)
	$(PY) src/train.py experiment=bigsmall $(ARGS)

study: install           ## one reference study and its report: make study STUDY=finetune_depth [SIZE=cpu] (docs/studies.md)
	@test -n "$(filter $(STUDY),$(STUDIES))" || { echo "make study: STUDY=$(STUDY) is not a study; choose one of: $(STUDIES)"; exit 2; }
	@test -f conf/size/$(SIZE).yaml || { echo "make study: SIZE=$(SIZE) is not a size; choose full or cpu"; exit 2; }
	@test -n "$(filter $(STUDY),$(SIZED))" || { echo "make study: $(STUDY) has no SIZE=$(SIZE) preset (conf/study_size/$(STUDY)/$(SIZE).yaml); run it at SIZE=full, or choose one of the studies that have one: $(SIZED)"; exit 2; }
	@# Pretrained arms without ImageNet files: a study with a source preset at this size
	@# (conf/study_pretraining/<study>/<size>_source.yaml) starts them from its source instead (pretrained_from=source).
	@# A study whose source (pretraining) has a preset at this size gets it trained first: always for a study that has
	@# no ImageNet arms (finetune_depth), only without the ImageNet files for the others.
	@set -e; FROM=""; GRID=$(STUDY_GRID); \
	if [ -f conf/study_pretraining/$(STUDY)/$(SIZE)_source.yaml ]; then \
		if $(PY) -m scalegrid.models.imagenet_files experiment=$(STUDY) size=$(SIZE); then :; else \
			rc=$$?; [ $$rc -eq 1 ] || exit $$rc; \
			echo "[scalegrid] the pretrained arms start from $(STUDY)_source (trained on CIFAR-10 classes 0-4) instead"; \
			FROM=pretrained_from=source; GRID=$(STUDY_GRID)_source; fi; \
		[ -n "$$FROM" ] || SKIP_SOURCE=1; fi; \
	if [ -f conf/study_size/$(STUDY)_source/$(SIZE).yaml ] && [ -z "$$SKIP_SOURCE" ]; then \
		echo "$(PY) src/train.py experiment=$(STUDY)_source size=$(SIZE) $(ARGS)"; \
		$(PY) src/train.py experiment=$(STUDY)_source size=$(SIZE) $(ARGS); fi; \
	echo "$(PY) src/train.py experiment=$(STUDY) size=$(SIZE) $$FROM $(ARGS)"; \
	$(PY) src/train.py experiment=$(STUDY) size=$(SIZE) $$FROM $(ARGS); \
	$(PY) src/report.py $$GRID $(filter runtime.report.%,$(ARGS))

report: install          ## tables and figures of a grid: make report GRID=outputs/grids/bigsmall [ARGS=runtime.report.ci_level=0.9]
	$(PY) src/report.py $(GRID) $(ARGS)

tensorboard: install     ## serve the logs of every run under outputs/
	mkdir -p outputs
	$(VENV)/bin/tensorboard --logdir outputs --host 127.0.0.1 --port 6006

models: install          ## a Markdown table of every model: parameters, trainable per policy, multiply-accumulates
	$(PY) src/model_table.py

bench-gpu: install       ## the GPU suite: one device run, JSON + table (bench/gpu_suite.py; prepare with ARGS=--prepare)
	$(PY) bench/gpu_suite.py $(ARGS)

bench: install           ## the performance benchmarks of the README (about 25 min on 2 cores; needs DATA_DIR)
	$(PY) bench/throughput.py
	$(PY) bench/dataloader.py
	$(PY) bench/time_to_accuracy.py
	$(PY) bench/image_cache.py

clean:                   ## remove the virtual environment (outputs/ and data/ are kept)
	rm -rf $(VENV)
