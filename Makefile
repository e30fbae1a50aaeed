# SPDX-License-Identifier: GPL-2.0-or-later
# A thin front door: `make run` builds and runs the demo, `make check` builds
# and runs every test. Both install missing Debian packages first.
BUILD ?= build
MESON_FLAGS ?=
ifeq ($(CI),true)
MESON_FLAGS += -Dwerror=true
endif

.PHONY: all deps run check clean

all: deps
	@[ -d $(BUILD) ] || meson setup $(BUILD) $(MESON_FLAGS)
	meson compile -C $(BUILD)

deps:
	@./scripts/deps.sh

run: all
	./scripts/demo.sh $(BUILD)

check: all
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

clean:
	rm -rf $(BUILD)
