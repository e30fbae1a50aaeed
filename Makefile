# SPDX-License-Identifier: GPL-2.0-or-later
# A thin front door: `make run` builds and runs the demo, `make check` builds
# and runs every test. Both install missing Debian packages first.
#
# `make check` tests three builds, one after the other:
#   $(BUILD)         the plain build (the one `make run` uses): every test
#   $(ASAN_BUILD)    AddressSanitizer and UBSan: every test but the latency suite
#   $(FAULTS_BUILD)  -Dfault_injection=true: the faults suite (docs/vm.md)
BUILD ?= build
ASAN_BUILD ?= build-asan
FAULTS_BUILD ?= build-faults
MESON_FLAGS ?=
ifeq ($(CI),true)
MESON_FLAGS += -Dwerror=true
endif
TEST = meson test --print-errorlogs --num-processes 2

.PHONY: all deps run check check-asan check-faults clean

all: deps
	@[ -d $(BUILD) ] || meson setup $(BUILD) $(MESON_FLAGS)
	meson compile -C $(BUILD)

deps:
	@./scripts/deps.sh

run: all
	./scripts/demo.sh $(BUILD)

check: all
	$(TEST) -C $(BUILD)
	$(MAKE) check-asan check-faults

check-asan:
	@[ -d $(ASAN_BUILD) ] || meson setup $(ASAN_BUILD) $(MESON_FLAGS) -Db_sanitize=address,undefined
	meson compile -C $(ASAN_BUILD)
	$(TEST) -C $(ASAN_BUILD) --no-suite latency

check-faults:
	@[ -d $(FAULTS_BUILD) ] || meson setup $(FAULTS_BUILD) $(MESON_FLAGS) -Dfault_injection=true
	meson compile -C $(FAULTS_BUILD)
	$(TEST) -C $(FAULTS_BUILD) --suite faults

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FAULTS_BUILD)
