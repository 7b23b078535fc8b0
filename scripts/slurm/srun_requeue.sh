#!/usr/bin/env bash
# Runs one cotrain training command as a SLURM job step (one task per GPU) and requeues the job
# when the run was stopped by a signal, for the sbatch scripts beside it:
#   srun_requeue.sh cotrain sft --config ... --out OUT ...
# `#SBATCH --signal=B:TERM@120` sends SIGTERM to this batch shell 120 s before the time limit; it
# is forwarded to the step, srun forwards it to every rank, the ranks agree to stop after the
# same optimizer step and exit 143 (run.json: "stopped"). Exit 143 then requeues the job with
# `scontrol requeue` (the job needs --requeue); the next start runs the same command on OUT.
# Preemption with PreemptMode=REQUEUE sends the same SIGTERM (GraceTime) and requeues by itself.
set -uo pipefail

srun --kill-on-bad-exit=1 "$@" &
step=$!
trap 'echo "srun_requeue: SIGTERM: stopping the run after its current step"; kill -TERM "$step" 2>/dev/null' TERM

code=0
# A trapped signal interrupts wait; wait again until the step has really ended.
while kill -0 "$step" 2>/dev/null; do
  wait "$step"
  code=$?
done
if [ "$code" = 143 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  echo "srun_requeue: the run stopped (exit 143); requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$code"
