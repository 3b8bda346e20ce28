# simpler: kernel module, library, tools and tests.
#
#   make            build simpler.ko (and, once they exist, libsimpler and tools)
#   make check      install what is missing, then run every test (host + VM)
#   make vmtest     boot Debian's kernel in qemu with simpler.ko and run the kselftests
#   make vmbench    the same VM, running the benchmarks instead
#   make deps       install the Debian packages everything needs
#   make clean

KVER    ?= $(shell tools/kver.sh 2>/dev/null)
KDIR    ?= /lib/modules/$(KVER)/build
BUILD   ?= build
KSRC_TAR ?= /usr/src/linux-source-6.1.tar.xz

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
KSFT_DIR := $(BUILD)/ksft
KSFT_SRC := $(wildcard tests/kselftest/*.c)
KSFT_BIN := $(patsubst tests/kselftest/%.c,$(KSFT_DIR)/bin/%,$(KSFT_SRC))
BENCH_SRC := $(wildcard tools/bench/kmod-*.c)
BENCH_BIN := $(patsubst tools/bench/%.c,$(BUILD)/bench/bin/%,$(BENCH_SRC))
KMOD_SRC := $(wildcard kmod/*.c kmod/*.h) uapi/linux/simpler.h Kbuild

.PHONY: all kmod ksft bench vmtest vmbench check deps lint clean

all: kmod

kmod: simpler.ko

simpler.ko: $(KMOD_SRC)
	@test -n "$(KVER)" || { echo "no Debian amd64 kernel headers: run make deps"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# kselftest_harness.h is taken from Debian's linux-source-6.1 at build time, never committed
$(KSFT_DIR)/include/kselftest_harness.h:
	@test -r $(KSRC_TAR) || { echo "$(KSRC_TAR) missing: run make deps (linux-source-6.1)"; exit 1; }
	mkdir -p $(KSFT_DIR)/include
	tar -xJf $(KSRC_TAR) -C $(KSFT_DIR)/include --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h

$(KSFT_DIR)/bin/%: tests/kselftest/%.c tests/kselftest/simpler_test.h uapi/linux/simpler.h \
		$(KSFT_DIR)/include/kselftest_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -Wno-misleading-indentation -D_GNU_SOURCE -static -pthread \
		-I$(KSFT_DIR)/include -Iuapi \
		-o $@ $< -lpthread

ksft: $(KSFT_BIN)

$(BUILD)/bench/bin/%: tools/bench/%.c uapi/linux/simpler.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -Iuapi -o $@ $<

bench: $(BENCH_BIN)

vmtest: kmod ksft
	tools/vmtest.sh

vmbench: kmod bench
	VM_TIMEOUT=1800 tools/vmtest.sh --bench

lint:
	tools/lint.sh

deps:
	tools/install-deps.sh

check:
	tools/check.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)
