#!/usr/bin/env bash
# One command to set everything up into .venv/ and run the main job on the built-in data.
#   bash setup.sh             # install (system packages + .venv) and run the main job (about 20 minutes on 2 cores)
#   bash setup.sh --no-run    # install only (what .ci/run uses)
#   bash setup.sh --all-tasks # the main job with all ten tasks (PR, ASR and SF add about 45 minutes on 2 cores)
# Idempotent: rerunning it reuses what is already installed.
set -euo pipefail
cd "$(dirname "$0")"

run_main_job=1
all_tasks=0
for arg in "$@"; do
  case "$arg" in
    --no-run) run_main_job=0 ;;
    --all-tasks) all_tasks=1 ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --no-run, --all-tasks or --help)" >&2; exit 2 ;;
  esac
done

# 1) System packages: espeak-ng and sox synthesise the superb-mini corpus; sox also trims ASV's audio at run time
#    (the s3prl recipe's `silence` effect, benchcore/sox_effects.py).
need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
# chromium renders the HTML report in its test (`bench report`; the test is skipped without it)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing system packages: ${need_apt[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2) Python environment. torch/torchaudio are pinned in pyproject.toml to a pair that imports
#    on CPU-only machines and uses CUDA where present (no post-install workaround is needed).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c 'import bench, torchaudio, s3prl, transformers' >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing the harness and its pinned dependencies (first time: a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  touch .venv/.installed
fi
# Detect a broken torchaudio (a CUDA-linked build beside a CPU-only torch) and say how to fix it.
.venv/bin/python -c 'import upstream.s3prl_compat as c; c.check_torchaudio()'

[ "$run_main_job" -eq 1 ] || { echo "setup: done (install only)"; exit 0; }

# 3) The main job: superb-mini (generated once, then reused), then SUPERB's utterance- and speaker-level tasks (and the
#    two FLEURS tasks, mlid and mlasr) with
#    SUPERB's FBANK baseline and with resemblyzer's pretrained GE2E speaker encoder (weights in its PyPI wheel). ASV runs
#    three seeds: on superb-mini's 192 test trials one seed's EER moves by several points. The three sequence tasks
#    (PR, ASR, SF) train CTC/BiLSTM heads for thousands of CPU steps, about 4, 13 and 5 minutes per upstream on 2 cores,
#    so they run only with --all-tasks.
echo "setup: main job"
main_job_started=$SECONDS
tasks="ks,qbe,sid,sd,er,ic"
[ "$all_tasks" -eq 1 ] && tasks="pr,asr,ks,qbe,sid,sd,er,ic,sf"
.venv/bin/bench upstreams
.venv/bin/bench extract --upstream s3prl:fbank --audio "$(.venv/bin/python -c 'import bench.sample_audio as s; print(s.SAMPLE_DIR)')" --out runs/sample-features --quiet
.venv/bin/bench data mini --out data/superb-mini --size small
for upstream in fbank resemblyzer; do
  .venv/bin/bench run --upstream "$upstream" --task "$tasks" --data-root data/superb-mini --profile mini --output runs/superb-mini
  .venv/bin/bench run --upstream "$upstream" --task asv --seeds 3 --data-root data/superb-mini --profile mini --output runs/superb-mini
  # beyond SUPERB: FLEURS's language ID and multilingual ASR (their own report table, never in the SUPERB scores)
  .venv/bin/bench run --upstream "$upstream" --task fleurs --data-root data/superb-mini --profile mini --output runs/superb-mini
done
# Where resemblyzer's knowledge sits: its head on each of its four hidden states alone, beside the weighted sum (the
# pooled cache the runs above filled: no second encoder pass; about 5 minutes of head training on 2 cores).
.venv/bin/bench layers --upstream resemblyzer --task ks,sid,er,ic --data-root data/superb-mini --profile mini --output runs/superb-mini --quiet
# 4) The report of the superb-mini run, with the model card's rows and SUPERB's FBANK row beside it.
.venv/bin/bench report --runs runs/superb-mini --references card,superb:fbank --format md,csv,tex,html --out runs/superb-mini/report
# 5) Is resemblyzer better than fbank here? Paired bootstrap tests on the same test items, column by column.
.venv/bin/bench compare resemblyzer fbank --runs runs/superb-mini --format md,csv --out runs/superb-mini/report
if [ "$all_tasks" -eq 0 ]; then
  echo "setup: PR, ASR and SF are not in the default main job (about 22 minutes per upstream on 2 cores for the three);"
  echo "       their cells show '–'. \`bash setup.sh --all-tasks\` runs all ten tasks."
fi
echo "setup: done in $(( (SECONDS - main_job_started) / 60 )) min $(( (SECONDS - main_job_started) % 60 )) s. Records are in runs/superb-mini/<task>/<upstream>/result.json, the report in runs/superb-mini/report/ (see README)."
