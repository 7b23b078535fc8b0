# scripts/slurm/srun_requeue.sh with stand-ins for srun and scontrol: the batch shell's SIGTERM
# reaches the training step, an exit of 143 (stopped at a safe point) requeues the job, any other
# exit does not, and the step's exit code is the script's.
source "$(dirname "$0")/lib.sh"
WRAP="$COTRAIN_SOURCE_DIR/scripts/slurm/srun_requeue.sh"
mkdir -p bin
cat >bin/srun <<'SH'
#!/usr/bin/env bash
shift  # --kill-on-bad-exit=1
exec "$@"
SH
cat >bin/scontrol <<'SH'
#!/usr/bin/env bash
echo "$*" >>"$WORK_DIR/requeued"
SH
# A training step that stops on SIGTERM with 143, as cotrain does, after noting it saw the signal.
cat >bin/step <<'SH'
#!/usr/bin/env bash
trap 'echo term >>"$WORK_DIR/step.log"; exit 143' TERM
echo started >>"$WORK_DIR/step.log"
for _ in $(seq 600); do sleep 0.1; done
exit "${STEP_EXIT:-0}"
SH
chmod +x bin/*
export PATH="$WORK/bin:$PATH" WORK_DIR="$WORK" SLURM_JOB_ID=4242

# SIGTERM to the batch shell: forwarded, exit 143, requeued.
bash "$WRAP" step >wrap.out 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s step.log ] && break; sleep 0.1; done
kill -TERM $pid
code=0; wait $pid || code=$?
[ "$code" = 143 ] || fail "exit $code after SIGTERM, expected 143: $(cat wrap.out)"; pass
grep -qx term step.log || fail "the step did not get SIGTERM"; pass
[ "$(cat requeued)" = "requeue 4242" ] || fail "not requeued: $(cat requeued 2>/dev/null)"; pass

# A run that ends on its own (0) or fails (1, 2) is not requeued; its exit code passes through.
rm -f requeued
sed -i 's/seq 600/seq 1/' bin/step  # ends by itself now
for want in 0 2; do
  code=0; STEP_EXIT=$want bash "$WRAP" step >wrap.out 2>&1 || code=$?
  [ "$code" = "$want" ] || fail "exit $code, expected $want"; pass
done
[ ! -e requeued ] || fail "requeued a run that was not stopped"; pass
finish
