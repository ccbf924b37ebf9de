#!/usr/bin/env bash
# Set up everything this package needs on a fresh Debian 12 machine, or bring an existing
# setup up to date: Debian packages, a virtual environment with the pinned ROS 2 wheels,
# torch and the rest, the messages in msg/ built into that environment, and an editable
# install of the Python code with its `c2f-sdf` command.
#
# Idempotent: each step records a hash of its inputs and is skipped when they have not
# changed, so a second run does nothing and takes a few seconds.
#
# Environment: C2F_SDF_VENV (default <repo>/.venv), PYTHON (default python3, 3.10-3.14).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${C2F_SDF_VENV:-$repo/.venv}
python=${PYTHON:-python3}
stamps=$venv/.c2f_sdf_setup
start=$SECONDS

log() { printf '[setup] %s\n' "$*"; }

# pip as configured on these machines warns about every missing local index; keep the rest.
pip_quiet() {
  "$vpy" -m pip "$@" --disable-pip-version-check 2> >(grep -v 'is ignored: it is neither' >&2)
}

hash_of() {  # hash_of FILE_OR_DIR...: one hash over the contents of the given paths
  (cd "$repo" && find "$@" -type f -not -path '*/__pycache__/*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

up_to_date() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }
mark_done() { mkdir -p "$stamps" && printf '%s' "$2" > "$stamps/$1"; }

# 1. Debian packages: libusb/libgomp/libgl for open3d, cmake and g++ for the message build.
debs=(libusb-1.0-0 libgomp1 libgl1 cmake g++ make)
missing=()
for deb in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

# 2. Virtual environment.
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
vpy=$venv/bin/python

# 3. Python packages, pinned; then point the ROS wheels' CMake exports at this interpreter.
req_hash=$(hash_of requirements.txt constraints.txt scripts/fix_ros_wheel_cmake.py)
if ! up_to_date requirements "$req_hash"; then
  log 'installing Python packages (first run: a few minutes)'
  pip_quiet install -q -r "$repo/requirements.txt" -c "$repo/constraints.txt"
  "$vpy" "$repo/scripts/fix_ros_wheel_cmake.py"
  rm -f "$stamps/messages"  # the message build depends on these packages
  mark_done requirements "$req_hash"
fi

# 3b. MediaPipe for the hand detector (c2f_sdf_ros.detect). Its wheel holds the hand models
#     and the legacy `solutions` graph, but declares ~1 GB of dependencies that graph never
#     loads (jax, opencv-contrib-python, sounddevice): install it alone, pinned in
#     constraints.txt; what the graph does need (numpy, protobuf 4.25, attrs,
#     opencv-python-headless, matplotlib) is in requirements.txt. mediapipe 0.10.14 has
#     wheels for CPython 3.10-3.12 on x86_64 and aarch64 only: elsewhere this step warns and
#     the package runs without that detector (the skin/depth localiser remains).
mp_hash=$(hash_of constraints.txt)
if ! up_to_date mediapipe "$mp_hash"; then
  if ! "$vpy" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))'; then
    log 'WARNING: mediapipe 0.10.14 has no wheel for this Python (3.10-3.12 only): the' \
      'MediaPipe hand detector is unavailable (see c2f_sdf_ros/detect)'
  else
    log 'installing mediapipe (without its declared dependencies)'
    if pip_quiet install -q --no-deps mediapipe -c "$repo/constraints.txt" \
        && (cd / && "$vpy" -W ignore -c 'import mediapipe as mp
mp.solutions.hands.Hands(static_image_mode=True).close()' 2>/dev/null); then
      mark_done mediapipe "$mp_hash"
    else
      log 'WARNING: mediapipe could not be installed or loaded on this platform: the' \
        'MediaPipe hand detector is unavailable (see c2f_sdf_ros/detect)'
    fi
  fi
fi

# 4. Editable install of the Python code and the `c2f-sdf` command. compat mode puts the
#    repo root on sys.path, which c2f_sdf_ros/__init__.py needs to join the installed
#    messages (see there).
code_hash=$(hash_of setup.py)
if ! up_to_date editable "$code_hash"; then
  log 'installing c2f_sdf_ros (editable)'
  pip_quiet install -q --no-deps --no-build-isolation -e "$repo" \
    --config-settings editable_mode=compat
  mark_done editable "$code_hash"
fi

# 5. Messages: generate and build msg/ with CMake into the virtual environment, which is
#    the ament prefix (its lib/ is on LD_LIBRARY_PATH through ros-wheels-bootstrapper).
msg_hash=$(hash_of msg CMakeLists.txt package.xml c2f_sdf_ros/__init__.py)
if ! up_to_date messages "$msg_hash"; then
  log 'building messages'
  build=$repo/build/setup
  mkdir -p "$build"
  export CMAKE_PREFIX_PATH=$venv AMENT_PREFIX_PATH=$venv
  cmake -S "$repo" -B "$build" -Wno-dev -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$vpy" -DBUILD_TESTING=OFF -DC2F_SDF_INSTALL_PYTHON_CODE=OFF \
    > "$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" >> "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }
  cmake --install "$build" >> "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }
  mark_done messages "$msg_hash"
fi

# 6. Prove the result imports: the code, the generated messages and rclpy together.
(cd / && "$vpy" -c 'import rclpy, torch, open3d, c2f_sdf_ros.msg, c2f_sdf_ros.geometry') \
  || { log 'import check failed'; exit 1; }
log "ready in $((SECONDS - start)) s: $venv"
