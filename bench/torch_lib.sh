# Sourced (from the checkout's root) by bench/kit.sh and scripts/gpu_experiment.sh: the libtorch that the
# carried binaries load. A python with torch ($PYTHON, else python3) gives its torch/lib; without one (a
# CPU machine's dry run) the checkout's own libtorch/lib. Sets PYTHON and TORCH_LIB, and puts TORCH_LIB
# first on LD_LIBRARY_PATH.
PYTHON=${PYTHON:-python3}
TORCH_LIB=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null) ||
  TORCH_LIB=$(pwd)/libtorch/lib
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
