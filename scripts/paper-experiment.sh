#!/usr/bin/env bash
# The GTA paper's experiment (issue #6): SFT vs GRPO vs GTA on SST-5, Emotion, MASSIVE and BBC.
#
#   scripts/paper-experiment.sh                                   # the defaults below
#   STEPS=200 SEEDS="1 2 3" GTA_ARGS="--prompts 8 --generations 16" scripts/paper-experiment.sh
#   SEED_DATASETS="sst5 massive" ABLATION_DATASETS="sst5 massive" scripts/paper-experiment.sh   # seeds and ablations on two
#
# Every variable below can be set from the environment. For each dataset: one base (`gta base`), then
# `gta compare --model BASE` (sft, grpo and gta from that base with the same budget and the first seed).
# On every dataset of SEED_DATASETS (the first by default), before the next dataset starts: a compare
# for every further seed (same base). On every dataset of ABLATION_DATASETS (the first by default),
# after its compares: the GTA ablations with the first seed: --constraint none, --constraint pcgrad and
# --guess-by-rl (the paper's "GTA(RL)"); the gate run is the compare's gta. Finally `gta report` writes
# $REPORT_OUT/README.md and its figures.
#
# Layout under $OUT (what `gta report` reads):
#   experiment.tsv                       the settings of this study (key TAB value), written at the start
#   timings.tsv                          one line per finished stage: finished_utc, stage, dataset, seconds, command
#   DATASET/base/                        the base (gta base)
#   DATASET/seed-S/{sft,grpo,gta}/       a compare with seed S (plus its summary.md and accuracy.png)
#   DATASET/ablations/{none,pcgrad,guess-by-rl}/   gta train runs (the datasets of ABLATION_DATASETS)
#
# Resuming: an interrupted study is started again with the same command. A base with gta_base.json and
# a run with eval.json are kept; an unfinished compare or ablation is run again from its start with
# --overwrite (a compare as a whole: its three methods share one invocation). Starting again with other
# settings than experiment.tsv records is refused, so one study never mixes two budgets. SEED_DATASETS
# and ABLATION_DATASETS add runs without changing any budget, so a resumed study may name more datasets
# there than before.
set -euo pipefail

STEPS="${STEPS:-120}"                               # training steps of every method and ablation (gta train's default)
SEEDS="${SEEDS:-1 2}"                               # the first: every dataset; the others: the datasets of SEED_DATASETS
DATASETS="${DATASETS:-sst5 emotion massive bbc}"    # benchmark names (or dataset folders)
OUT="${OUT:-runs/paper}"                            # the runs tree, relative to the repository root
REPORT_OUT="${REPORT_OUT:-docs/results}"            # where gta report writes README.md and figures/
DEVICE="${DEVICE:-auto}"                            # auto: a CUDA GPU when present, else the CPU backend
GTA_ARGS="${GTA_ARGS:-}"                            # knobs for every compare and ablation, e.g. "--prompts 8 --generations 16 --mu 4"
BASE_ARGS="${BASE_ARGS:-}"                          # knobs for gta base, e.g. "--base-layers 4 --base-pretrain-steps 400"
SEED_DATASETS="${SEED_DATASETS:-${DATASETS%% *}}"          # datasets (of DATASETS) that get every seed, not only the first
ABLATION_DATASETS="${ABLATION_DATASETS:-${DATASETS%% *}}"  # datasets (of DATASETS) that get the GTA ablations

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
read -r -a seeds <<< "$SEEDS"
read -r -a datasets <<< "$DATASETS"
read -r -a gta_args <<< "$GTA_ARGS"
read -r -a base_args <<< "$BASE_ARGS"
# listed WORD LIST: whether the space-separated LIST holds WORD.
listed() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for variable in SEED_DATASETS ABLATION_DATASETS; do
  for data in ${!variable}; do
    listed "$data" "$DATASETS" || { echo "error: $variable names $data, which DATASETS ($DATASETS) does not list" >&2; exit 2; }
  done
done
[ "${#seeds[@]}" -ge 1 ] || { echo "error: SEEDS is empty" >&2; exit 2; }
[ "${#datasets[@]}" -ge 1 ] || { echo "error: DATASETS is empty" >&2; exit 2; }
# The script sets these itself per run; a second copy in GTA_ARGS would make the budgets or variants differ.
for arg in "${gta_args[@]}"; do
  case "$arg" in
    --steps|--steps=*|--seed|--seed=*|--method|--method=*|--constraint|--constraint=*|--guess-by-rl|--model|--model=*|--data|--data=*|--out|--out=*|--device|--device=*)
      echo "error: GTA_ARGS must not contain $arg (the script sets it; see the variables at the top of $0)" >&2; exit 2 ;;
  esac
done

main_seed="${seeds[0]}"
mkdir -p "$OUT"

# What the study is; a resumed study must be the same one.
settings="$(printf 'steps\t%s\nseeds\t%s\ndatasets\t%s\ndevice\t%s\ngta_args\t%s\nbase_args\t%s\n' \
  "$STEPS" "$SEEDS" "$DATASETS" "$DEVICE" "$GTA_ARGS" "$BASE_ARGS")"
if [ -f "$OUT/experiment.tsv" ]; then
  recorded="$(grep -E '^(steps|seeds|datasets|device|gta_args|base_args)	' "$OUT/experiment.tsv" || true)"
  if [ "$recorded" != "$settings" ]; then
    echo "error: $OUT/experiment.tsv: this study was started with other settings; resume it with the same ones or choose another OUT" >&2
    diff <(echo "$recorded") <(echo "$settings") >&2 || true
    exit 2
  fi
fi
machine="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)"
[ -n "$machine" ] || machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') ($(nproc) cores)"
invocation="STEPS=${STEPS@Q} SEEDS=${SEEDS@Q} DATASETS=${DATASETS@Q} SEED_DATASETS=${SEED_DATASETS@Q} ABLATION_DATASETS=${ABLATION_DATASETS@Q} OUT=${OUT@Q} REPORT_OUT=${REPORT_OUT@Q} DEVICE=${DEVICE@Q} GTA_ARGS=${GTA_ARGS@Q} BASE_ARGS=${BASE_ARGS@Q} scripts/paper-experiment.sh"
# A resumed study keeps its start time and lists every commit that worked on it.
started="$(date -u +%FT%TZ)"
commits="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Changed tracked files make the commit "-dirty", except the study's own outputs: the report rewrites
# REPORT_OUT at the end of every invocation, and a resumed study would otherwise always look dirty.
own_outputs=()
for path in "$OUT" "$REPORT_OUT"; do
  case "$path" in
    "$repo"/*) own_outputs+=(":(exclude)${path#"$repo"/}") ;;
    /*|..|../*) ;;                                  # outside the repository: git sees no change there anyway
    *) own_outputs+=(":(exclude)$path") ;;
  esac
done
if [ "$commits" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no -- . "${own_outputs[@]}")" ]; then
  commits="$commits-dirty"
fi
if [ -f "$OUT/experiment.tsv" ]; then
  started="$(sed -n 's/^started_utc\t//p' "$OUT/experiment.tsv")"
  previous="$(sed -n 's/^commits\t//p' "$OUT/experiment.tsv")"
  case " $previous " in
    *" $commits "*) commits="$previous" ;;
    *) echo "warning: $OUT was started at commit(s) $previous; resuming at $commits" >&2; commits="$previous $commits" ;;
  esac
fi
{
  echo "$settings"
  printf 'seed_datasets\t%s\nablation_datasets\t%s\n' "$SEED_DATASETS" "$ABLATION_DATASETS"
  printf 'out\t%s\nreport_out\t%s\nmachine\t%s\ncommits\t%s\nstarted_utc\t%s\ninvocation\t%s\n' \
    "$OUT" "$REPORT_OUT" "$machine" "$commits" "$started" "$invocation"
} > "$OUT/.experiment.tsv.tmp"
mv "$OUT/.experiment.tsv.tmp" "$OUT/experiment.tsv"
[ -f "$OUT/timings.tsv" ] || printf 'finished_utc\tstage\tdataset\tseconds\tcommand\n' > "$OUT/timings.tsv"

hms() { printf '%dh%02dm%02ds' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }

echo "== build"
build_start=$(date +%s)
dotnet build GtaIlgpu.sln -c Release --nologo -v quiet
gta="$repo/src/GtaIlgpu.Cli/bin/Release/net10.0/gta"
echo "== build took $(hms $(($(date +%s) - build_start)))"

# run_gta STAGE DATASET ARGS...: runs `gta ARGS`, prints its wall time and appends it to timings.tsv.
run_gta() {
  local stage="$1" dataset="$2"; shift 2
  local command start seconds
  printf -v command '%q ' "$@"
  command="gta ${command% }"
  echo "== $stage ($dataset): $command"
  start=$(date +%s)
  "$gta" "$@"
  seconds=$(($(date +%s) - start))
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$stage" "$dataset" "$seconds" "$command" >> "$OUT/timings.tsv"
  echo "== $stage ($dataset) took $(hms "$seconds")"
}

# again_or_fresh FOLDER: --overwrite when an unfinished run left files there (gta refuses a non-empty --out).
again_or_fresh() { if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then echo --overwrite; fi; }

compare() {  # compare DATASET SEED
  local data="$1" seed="$2" name dir
  name="$(basename "$data")"
  dir="$OUT/$name/seed-$seed"
  if [ -f "$dir/sft/eval.json" ] && [ -f "$dir/grpo/eval.json" ] && [ -f "$dir/gta/eval.json" ]; then
    echo "== compare seed $seed ($name): done already, kept ($dir)"; return
  fi
  run_gta "compare seed $seed" "$name" compare --model "$OUT/$name/base" --data "$data" --steps "$STEPS" --seed "$seed" \
    --device "$DEVICE" "${gta_args[@]}" --out "$dir" $(again_or_fresh "$dir")
}

ablation() {  # ablation DATASET NAME ARGS...
  local data="$1" variant="$2"; shift 2
  local name dir
  name="$(basename "$data")"
  dir="$OUT/$name/ablations/$variant"
  if [ -f "$dir/eval.json" ]; then echo "== ablation $variant ($name): done already, kept ($dir)"; return; fi
  run_gta "ablation $variant" "$name" train --method gta "$@" --model "$OUT/$name/base" --data "$data" --steps "$STEPS" --seed "$main_seed" \
    --device "$DEVICE" "${gta_args[@]}" --out "$dir" $(again_or_fresh "$dir")
}

study_start=$(date +%s)
for data in "${datasets[@]}"; do
  name="$(basename "$data")"
  base="$OUT/$name/base"
  if [ -f "$base/gta_base.json" ]; then
    echo "== base ($name): done already, kept ($base)"
  else
    run_gta base "$name" base --data "$data" --seed "$main_seed" --device "$DEVICE" "${base_args[@]}" --out "$base" $(again_or_fresh "$base")
  fi
  compare "$data" "$main_seed"
  # A dataset is finished (seeds, ablations) before the next starts, so a study stopped early still
  # has its spread and ablations, and the missing columns are whole datasets.
  if listed "$data" "$SEED_DATASETS"; then
    for seed in "${seeds[@]:1}"; do compare "$data" "$seed"; done
  fi
  if listed "$data" "$ABLATION_DATASETS"; then
    ablation "$data" none --constraint none
    ablation "$data" pcgrad --constraint pcgrad
    ablation "$data" guess-by-rl --guess-by-rl
  fi
done

run_gta report all report --runs "$OUT" --out "$REPORT_OUT"
echo "== study took $(hms $(($(date +%s) - study_start))) (this invocation; timings.tsv holds every stage)"
