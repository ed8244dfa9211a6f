# Sourced by tools/test.sh. Debian's chromium for the browser tests (tests/browser/), driven by
# playwright from the test extra with executable_path: no browser is ever downloaded.
ci_apt chromium fonts-dejavu-core
export VANI_CHROMIUM
VANI_CHROMIUM=$(command -v chromium)
# From here on a missing browser fails the browser tests instead of skipping them.
export VANI_REQUIRE_BROWSER=1
"$VANI_CHROMIUM" --version
