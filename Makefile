# simpler: kernel module, library, tools and tests.
#
#   make            build libsimpler (.a, .so, simpler.pc), the simpler command and the Python
#                   module (build/python/simpler, for PYTHON=/usr/bin/python3)
#   make install    install the library, headers, simpler.pc, man pages, the simpler
#                   command, the udev rule, the DKMS tree and a modules-load.d entry;
#                   DESTDIR, PREFIX (/usr/local), LIBDIR ($(PREFIX)/lib/<multiarch>),
#                   INCLUDEDIR, BINDIR, MANDIR, PKGCONFIGDIR, UDEVRULESDIR (/lib/udev/rules.d),
#                   DKMSDIR ($(PREFIX)/src), PYTHONDIR (/usr/lib/python3/dist-packages for
#                   PREFIX=/usr, else $(PREFIX)/lib/python3.X/dist-packages); parts: install-lib,
#                   install-tool, install-dkms, install-python
#                   (make uninstall removes it again).  CPPFLAGS, CFLAGS, LDFLAGS are honoured
#   make demo       the main job: a tiled matmul and a serving loop on 4 simulated chip processes
#   make check      install what is missing, then run every test (host + VM)
#   make pytest     the Python module's tests (tests/python, pytest)
#   make mpitest    the L4 over MPI under a real mpirun -np 3 (shared memory, then TCP)
#   make kmod       build simpler.ko for Debian's 6.1 kernel
#   make install-kmod  modules_install (under DESTDIR if given), the udev rule, modules-load.d
#   make vmtest     boot Debian's kernel in qemu with simpler.ko and run the kselftests
#   make vmtest-debug  the kselftests on a cached 6.1 debug kernel (lockdep, KASAN, kmemleak)
#   make vmbench    the same VM, running the benchmarks instead (BASE=<git rev>: kmod-bench
#                   on that revision's module too, before/after in one run)
#   make fuzz       the module's fuzzer in the VM on both kernels (SECONDS=300 each, SEED=)
#   make pictures   run bench dispatch, hostbuf and work (idle) and draw them into docs/pictures
#   make deps       install the Debian packages everything needs
#   make clean

KVER    ?= $(shell tools/kver.sh 2>/dev/null)
KDIR    ?= /lib/modules/$(KVER)/build
BUILD   ?= build
KSRC_TAR ?= /usr/src/linux-source-6.1.tar.xz

CC      ?= gcc
CFLAGS  ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=
OBJCOPY ?= objcopy
NM      ?= nm
INSTALL ?= install
WARN    := -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
KSFT_DIR := $(BUILD)/ksft
KSFT_SRC := $(wildcard tests/kselftest/*.c)
KSFT_BIN := $(patsubst tests/kselftest/%.c,$(KSFT_DIR)/bin/%,$(KSFT_SRC)) $(KSFT_DIR)/bin/abi32
BENCH_SRC := $(wildcard tools/bench/kmod-*.c)
BENCH_BIN := $(patsubst tools/bench/%.c,$(BUILD)/bench/bin/%,$(BENCH_SRC))
KMOD_SRC := $(wildcard kmod/*.c kmod/*.h) uapi/linux/simpler.h Kbuild lib/include/simpler.h

# the one version: lib/include/simpler.h's SIMPLER_VERSION_{MAJOR,MINOR,PATCH} (Kbuild reads
# them too); SOVERSION is the ABI's, raised when the ABI breaks
VERSION   := $(shell sed -n 's/^.define SIMPLER_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9][0-9]*\)$$/\2/p' \
		lib/include/simpler.h | paste -sd.)
SOVERSION := 0

# where make install puts things (Debian's multiarch library directory when it has one)
PREFIX    ?= /usr/local
ifeq ($(origin MULTIARCH),undefined)
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch 2>/dev/null)
endif
LIBDIR       ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DKMSDIR      ?= $(PREFIX)/src
ifeq ($(origin UDEVRULESDIR),undefined)
UDEVRULESDIR := $(or $(shell pkg-config --variable=udevdir udev 2>/dev/null),/lib/udev)/rules.d
endif
# systemd reads /usr/lib, /etc and /run only, whatever PREFIX is
MODULESLOADDIR ?= /usr/lib/modules-load.d
LIB_SRC   := $(wildcard lib/*.c lib/*/*.c) $(wildcard platform/*/*.c)
LIB_HDR   := $(wildcard lib/*.h lib/*/*.h platform/*.h) uapi/linux/simpler.h
LIB_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIB_PIC   := $(patsubst %.c,$(BUILD)/pic/%.o,$(LIB_SRC))
LIB_CFLAGS = $(CPPFLAGS) $(CFLAGS) $(WARN) -Wmissing-prototypes -std=gnu11 -D_GNU_SOURCE -fvisibility=hidden -pthread \
	     -Ilib/include -Ilib -Iplatform -Iuapi
LIBA      := $(BUILD)/libsimpler.a
LIBSO     := $(BUILD)/libsimpler.so.$(VERSION)

.PHONY: mpi-plugin mpi-tests mpitest all version lib tools python python-tests pytest install-python host-tests hosttest sanitize-tests race-tests demo bench-starpu kmod ksft ksft-intree bench vmtest vmbench vmtest-debug fuzz check deps lint clean \
	install install-lib install-tool install-dkms uninstall install-kmod dkms-src pictures FORCE

all: lib tools python

lib: $(LIBA) $(LIBSO) $(BUILD)/simpler.pc mpi-plugin

TOOL_SRC := $(filter-out tools/simpler/work.c,$(wildcard tools/simpler/*.c))
TOOL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRC))

$(TOOL_OBJ): $(BUILD)/obj/%.o: %.c $(LIB_HDR) $(wildcard tools/simpler/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -Itools/simpler -c -o $@ $<

# the bench's kernels: one object, linked by the simpler command and the StarPU side alike
$(BUILD)/obj/tools/work.o: tools/simpler/work.c tools/simpler/work.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -falign-loops=32 -Wa,-mbranches-within-32B-boundaries \
		-c -o $@ $<

# the command in the tree (tests, make demo): linked statically, runs from anywhere
$(BUILD)/simpler: $(TOOL_OBJ) $(LIBA) $(BUILD)/obj/tools/work.o
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $(TOOL_OBJ) $(BUILD)/obj/tools/work.o $(LIBA) -lpthread -lm

# `bench tensormap` times the TensorMap itself, which libsimpler.so does not export: the
# members of libsimpler.a it needs, in one object whose copies of public functions are made
# local, so that every public call of the command still goes to libsimpler.so
$(BUILD)/obj/tools/tensormap-private.o: $(BUILD)/obj/tools/simpler/bench_tensormap.o $(LIBA)
	$(CC) -r -nostdlib -o $@ \
		$$($(NM) -u $< | awk '$$NF ~ /^sx_/ { printf "-Wl,-u,%s ", $$NF }') $(LIBA)
	$(OBJCOPY) -w --localize-symbol='simpler_*' $@

# the command make install installs: linked against libsimpler.so.0, no run path
$(BUILD)/dyn/simpler: $(TOOL_OBJ) $(BUILD)/obj/tools/work.o $(BUILD)/obj/tools/tensormap-private.o $(LIBSO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $(TOOL_OBJ) $(BUILD)/obj/tools/work.o \
		$(BUILD)/obj/tools/tensormap-private.o -L$(BUILD) -lsimpler -lpthread -lm

# the StarPU side of `simpler bench work`, when Debian's libstarpu-dev is there (make deps)
STARPU_OK := $(shell pkg-config --exists starpu-1.3 2>/dev/null && echo 1)
$(BUILD)/bench/starpu-work: tools/bench/starpu-work.c tools/simpler/work.h tools/simpler/tool.h \
		$(BUILD)/obj/tools/work.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -Itools/simpler \
		$$(pkg-config --cflags starpu-1.3) -o $@ $< $(BUILD)/obj/tools/work.o \
		$$(pkg-config --libs starpu-1.3) -lm

# the MPI plugin libsimpler dlopen()s for SIMPLER_WORKER_MPI (libsimpler never links libmpi):
# built when Open MPI's mpicc works (make deps installs openmpi-bin and libopenmpi-dev)
MPICC  ?= mpicc
MPI_OK := $(shell echo 'int main(void) { return 0; }' | $(MPICC) -x c - -o /dev/null 2>/dev/null && echo 1)

# the StarPU-MPI side of `simpler bench cluster` (Debian's libstarpumpi, with Open MPI)
STARPUMPI_OK := $(shell pkg-config --exists starpumpi-1.3 2>/dev/null && echo 1)
$(BUILD)/bench/starpu-mpi-chain: tools/bench/starpu-mpi-chain.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE $$(pkg-config --cflags starpumpi-1.3) \
		-o $@ $< $$(pkg-config --libs starpumpi-1.3)

tools: lib $(BUILD)/simpler $(BUILD)/dyn/simpler $(if $(STARPU_OK),$(BUILD)/bench/starpu-work) \
	$(if $(and $(MPI_OK),$(STARPUMPI_OK)),$(BUILD)/bench/starpu-mpi-chain)

# the MPI plugin libsimpler dlopen()s for SIMPLER_WORKER_MPI (libsimpler never links libmpi)
MPI_PLUGIN := $(BUILD)/libsimpler-mpi.so.0
$(MPI_PLUGIN): plugin/mpi.c lib/mpi_plugin.h
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -fPIC -shared -fvisibility=hidden \
		-Ilib $(LDFLAGS) -Wl,-soname,libsimpler-mpi.so.0 -o $@ $<

mpi-plugin: $(if $(MPI_OK),$(MPI_PLUGIN))

# the tests that run under mpirun (tests/mpi/run.sh): programs linked like the host tests,
# without libmpi (the plugin brings it); one of them also calls MPI itself
MPI_TESTS := $(patsubst tests/mpi/%.c,$(BUILD)/mpitests/%,$(wildcard tests/mpi/test_*.c))
$(BUILD)/mpitests/%: tests/mpi/%.c tests/mpi/mpitest.h tests/host/checks.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Itests/mpi $(LDFLAGS) -o $@ $< $(LIBA) -lpthread

# the same program as another build (another build-id): every rank must refuse the job
$(BUILD)/mpitests/test_proto_b: tests/mpi/test_proto.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -DSIMPLER_OTHER_BUILD $(LDFLAGS) -o $@ $< $(LIBA) -lpthread

# a program that initialises MPI itself first (so it links libmpi: built with mpicc)
$(BUILD)/mpitests/preinit: tests/mpi/preinit.c $(LIBA)
	@mkdir -p $(dir $@)
	$(MPICC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) -lpthread

mpi-tests: mpi-plugin $(if $(MPI_OK),$(MPI_TESTS) $(BUILD)/mpitests/test_proto_b $(BUILD)/mpitests/preinit)

mpitest: mpi-tests
	tests/mpi/run.sh

# host tests: one program per behaviour area, linked statically
HOST_TESTS := $(patsubst tests/host/%.c,$(BUILD)/tests/%,$(wildcard tests/host/test_*.c))
TEST_CFLAGS = $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -Ilib/include -Ilib \
	      -Iplatform -Itests/host

$(BUILD)/tests/%: tests/host/%.c $(wildcard tests/host/*.h) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) -lpthread

host-tests: $(HOST_TESTS) $(BUILD)/tests/basic-shared $(BUILD)/tests/libkern_test.so

# a kernel in a shared object test_proc dlopen()s after the chips started (one per test dir)
$(BUILD)/tests/libkern_test.so $(BUILD)/asan/tests/libkern_test.so $(BUILD)/tsan/tests/libkern_test.so: \
		tests/host/kern_so.c lib/include/simpler.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -shared -Ilib/include $(LDFLAGS) -o $@ $<

# the same basic tests linked against the shared library: proves the map exports enough
$(BUILD)/tests/basic-shared: tests/host/test_basic.c $(wildcard tests/host/*.h) $(LIBSO)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD) -lsimpler -Wl,-rpath,$(abspath $(BUILD)) -lpthread

# the host tests again under sanitizers (not the 10M-task scale test: it is about memory bounds)
SAN_TESTS := $(filter-out test_scale,$(patsubst tests/host/%.c,%,$(wildcard tests/host/test_*.c)))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN_FLAGS := -fsanitize=thread -Wno-tsan

$(BUILD)/asan/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -O1 $(ASAN_FLAGS) -c -o $@ $<

$(BUILD)/tsan/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -O1 $(TSAN_FLAGS) -c -o $@ $<

$(BUILD)/asan/tests/%: tests/host/%.c $(wildcard tests/host/*.h) $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -O1 $(ASAN_FLAGS) -o $@ $< $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(LIB_SRC))

$(BUILD)/tsan/tests/%: tests/host/%.c $(wildcard tests/host/*.h) $(patsubst %.c,$(BUILD)/tsan/obj/%.o,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -O1 $(TSAN_FLAGS) -o $@ $< $(patsubst %.c,$(BUILD)/tsan/obj/%.o,$(LIB_SRC))

# the scheduler's tests with its race windows widened (SX_TEST_RACE_WINDOWS in sched.c)
$(BUILD)/race/tests/test_sched: tests/host/test_sched.c $(wildcard tests/host/*.h) $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Iuapi -DSX_TEST_RACE_WINDOWS -o $@ $< $(LIB_SRC) -lpthread -ldl

race-tests: $(BUILD)/race/tests/test_sched

sanitize-tests: $(BUILD)/race/tests/test_sched \
	$(addprefix $(BUILD)/asan/tests/,$(SAN_TESTS)) $(addprefix $(BUILD)/tsan/tests/,$(SAN_TESTS)) \
	$(BUILD)/asan/tests/libkern_test.so $(BUILD)/tsan/tests/libkern_test.so

# simpler against StarPU in one run (needs Debian's libstarpu-dev: make deps installs it)
$(BUILD)/bench/starpu-dispatch: tools/bench/starpu-dispatch.c tools/simpler/cli.c \
		tools/simpler/cli.h tools/simpler/shapes.h tools/simpler/tool.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -Ilib/include -Itools/simpler \
		$$(pkg-config --cflags starpu-1.3) -o $@ $< tools/simpler/cli.c $(LIBA) \
		$$(pkg-config --libs starpu-1.3) -lm

bench-starpu: $(BUILD)/bench/starpu-dispatch
	$(BUILD)/bench/starpu-dispatch

demo: tools
	$(BUILD)/simpler demo

# the README's pictures: each benchmark's --json (kept beside them) drawn by tools/plot
PICTURES := docs/pictures
pictures: tools
	@mkdir -p $(PICTURES)
	$(BUILD)/simpler bench dispatch --json >$(PICTURES)/dispatch.json
	$(BUILD)/simpler bench hostbuf --json >$(PICTURES)/hostbuf.json
	$(BUILD)/simpler bench work --loads 0 --json >$(PICTURES)/work.json
	for b in dispatch hostbuf work; do tools/plot $(PICTURES)/$$b.json || exit 1; done

# the Python module: simpler/ (the .py files) and its C side, _simpler, built against
# libsimpler.so for Debian's python3 (not whatever python3 comes first on PATH)
PYTHON    ?= /usr/bin/python3
PY_CFG    := $(shell $(PYTHON) -c 'import sysconfig as s; print(s.get_paths()["include"], \
		s.get_config_var("EXT_SUFFIX"), s.get_python_version())' 2>/dev/null)
PY_INC    := $(word 1,$(PY_CFG))
PY_EXT    := $(word 2,$(PY_CFG))
PY_VER    := $(word 3,$(PY_CFG))
PY_SRC    := $(wildcard python/ext/*.c)
PY_FILES  := $(patsubst python/%,$(BUILD)/python/%,$(wildcard python/simpler/*.py))
PYMOD     := $(BUILD)/python/simpler/_simpler$(PY_EXT)

python: $(PYMOD) $(PY_FILES)

$(PYMOD): $(PY_SRC) python/ext/spy.h lib/include/simpler.h $(LIBSO)
	@test -r "$(PY_INC)/Python.h" || { echo "no Python.h for $(PYTHON): run make deps (python3-dev)"; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wmissing-prototypes -std=gnu11 -D_GNU_SOURCE -fPIC \
		-fvisibility=hidden -pthread -I$(PY_INC) -Ilib/include $(LDFLAGS) -shared \
		-o $@ $(PY_SRC) -L$(BUILD) -lsimpler -ldl

$(BUILD)/python/simpler/%.py: python/simpler/%.py
	@mkdir -p $(dir $@)
	cp $< $@

# kernels the Python tests register as "lib.so:symbol"
python-tests: python $(BUILD)/tests/libpykern.so

$(BUILD)/tests/libpykern.so: tests/python/kern.c lib/include/simpler.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -shared -Ilib/include $(LDFLAGS) -o $@ $<

pytest: python-tests
	tests/python/run.sh

hosttest: host-tests
	tests/host/run.sh $(HOST_TESTS)

$(BUILD)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_PIC) lib/libsimpler.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -pthread -Wl,--version-script=lib/libsimpler.map \
		-Wl,-soname,libsimpler.so.$(SOVERSION) -o $@ $(LIB_PIC)
	ln -sf libsimpler.so.$(VERSION) $(BUILD)/libsimpler.so.$(SOVERSION)
	ln -sf libsimpler.so.$(SOVERSION) $(BUILD)/libsimpler.so

# simpler.pc names the install's directories: rebuilt when they (or the version) change,
# which the stamp's contents record
PC_DIRS := $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(VERSION)
$(BUILD)/pc-dirs.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PC_DIRS)' | cmp -s - $@ || echo '$(PC_DIRS)' > $@

# libdir and includedir relative to ${prefix} when they are under it
$(BUILD)/simpler.pc: lib/simpler.pc.in $(BUILD)/pc-dirs.stamp
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' $< > $@

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

# the ABI tests again as a 32-bit program: the compat_ioctl path
$(KSFT_DIR)/bin/abi32: tests/kselftest/abi.c tests/kselftest/simpler_test.h uapi/linux/simpler.h \
		$(KSFT_DIR)/include/kselftest_harness.h
	@mkdir -p $(dir $@)
	$(CC) -m32 $(CFLAGS) $(WARN) -Wno-misleading-indentation -Wno-pointer-to-int-cast -Wno-clobbered \
		-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		-static -pthread -I$(KSFT_DIR)/include -Iuapi -o $@ $< -lpthread

ksft: $(KSFT_BIN)

$(BUILD)/bench/bin/%: tools/bench/%.c uapi/linux/simpler.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -Iuapi -o $@ $<

bench: $(BENCH_BIN)

# the same selftests built in a kernel tree as tools/testing/selftests/drivers/simpler
ksft-intree:
	@test -d "$(KTREE)/tools/testing/selftests" || { echo "KTREE=<kernel source tree> needed"; exit 1; }
	mkdir -p $(KTREE)/tools/testing/selftests/drivers/simpler
	cp tests/kselftest/*.c tests/kselftest/simpler_test.h $(KTREE)/tools/testing/selftests/drivers/simpler/
	cp tests/kselftest/Makefile.intree $(KTREE)/tools/testing/selftests/drivers/simpler/Makefile
	cp tests/kselftest/config tests/kselftest/settings $(KTREE)/tools/testing/selftests/drivers/simpler/
	cp uapi/linux/simpler.h $(KTREE)/include/uapi/linux/simpler.h
	$(MAKE) -C $(KTREE) headers_install
	$(MAKE) -C $(KTREE)/tools/testing/selftests TARGETS=drivers/simpler

# make install: what a distribution's packages split as libsimpler0 + libsimpler-dev
# (install-lib), simpler-utils (install-tool) and simpler-dkms (install-dkms).  Nothing here
# changes the build host beyond the files it copies: the group `simpler` the udev rule names
# is the package's (postinst) or the administrator's to create.
install: install-lib install-tool install-dkms install-python

install-lib: lib
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	$(INSTALL) -m 0644 lib/include/simpler.h $(DESTDIR)$(INCLUDEDIR)/simpler.h
	$(INSTALL) -m 0644 $(LIBSO) $(LIBA) $(DESTDIR)$(LIBDIR)/
	$(if $(MPI_OK),$(INSTALL) -m 0644 $(MPI_PLUGIN) $(DESTDIR)$(LIBDIR)/)
	ln -sf libsimpler.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsimpler.so.$(SOVERSION)
	ln -sf libsimpler.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsimpler.so
	$(INSTALL) -m 0644 $(BUILD)/simpler.pc $(DESTDIR)$(PKGCONFIGDIR)/simpler.pc
	$(INSTALL) -m 0644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	$(INSTALL) -m 0644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/

install-tool: $(BUILD)/dyn/simpler
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man4 \
		$(DESTDIR)$(UDEVRULESDIR)
	$(INSTALL) -m 0755 $(BUILD)/dyn/simpler $(DESTDIR)$(BINDIR)/simpler
	$(INSTALL) -m 0644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 man/man4/*.4 $(DESTDIR)$(MANDIR)/man4/
	$(INSTALL) -m 0644 kmod/60-simpler.rules $(DESTDIR)$(UDEVRULESDIR)/60-simpler.rules

# the Python module where Debian's python3 finds it (PYTHONDIR), linked to libsimpler.so.0
ifeq ($(PREFIX),/usr)
PYTHONDIR ?= /usr/lib/python3/dist-packages
else
PYTHONDIR ?= $(PREFIX)/lib/python$(PY_VER)/dist-packages
endif
install-python: python
	$(INSTALL) -d $(DESTDIR)$(PYTHONDIR)/simpler
	$(INSTALL) -m 0644 $(PY_FILES) $(DESTDIR)$(PYTHONDIR)/simpler/
	$(INSTALL) -m 0644 $(PYMOD) $(DESTDIR)$(PYTHONDIR)/simpler/

# the module's source for DKMS (dkms.conf with the version written in), and the entry that
# loads it at boot
DKMS_TREE = $(DESTDIR)$(DKMSDIR)/simpler-$(VERSION)
install-dkms:
	$(INSTALL) -d $(DKMS_TREE)/kmod $(DKMS_TREE)/uapi/linux $(DKMS_TREE)/lib/include \
		$(DESTDIR)$(MODULESLOADDIR)
	$(INSTALL) -m 0644 Kbuild $(DKMS_TREE)/Kbuild
	sed 's/#MODULE_VERSION#/$(VERSION)/' kmod/dkms.conf > $(DKMS_TREE)/dkms.conf
	chmod 0644 $(DKMS_TREE)/dkms.conf
	$(INSTALL) -m 0644 kmod/*.c kmod/*.h $(DKMS_TREE)/kmod/
	$(INSTALL) -m 0644 uapi/linux/simpler.h $(DKMS_TREE)/uapi/linux/simpler.h
	$(INSTALL) -m 0644 lib/include/simpler.h $(DKMS_TREE)/lib/include/simpler.h
	$(INSTALL) -m 0644 kmod/modules-load.conf $(DESTDIR)$(MODULESLOADDIR)/simpler.conf

dkms-src: install-dkms

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/simpler.h $(DESTDIR)$(LIBDIR)/libsimpler.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/libsimpler.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsimpler.so \
		$(DESTDIR)$(LIBDIR)/libsimpler.a $(DESTDIR)$(PKGCONFIGDIR)/simpler.pc \
		$(DESTDIR)$(LIBDIR)/libsimpler-mpi.so.0 \
		$(DESTDIR)$(BINDIR)/simpler $(DESTDIR)$(UDEVRULESDIR)/60-simpler.rules \
		$(DESTDIR)$(MODULESLOADDIR)/simpler.conf
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/,$(patsubst man/%,%,$(wildcard man/man*/*.[0-9])))
	rm -rf $(DKMS_TREE) $(DESTDIR)$(PYTHONDIR)/simpler

# simpler.ko built here into $(DESTDIR)/lib/modules/$(KVER) (not used by the tests: they
# never load the module outside the VM), with the udev rule and the boot-time entry
install-kmod: kmod
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(DESTDIR),INSTALL_MOD_PATH=$(abspath $(DESTDIR))) modules_install
	$(INSTALL) -D -m 0644 kmod/60-simpler.rules $(DESTDIR)$(UDEVRULESDIR)/60-simpler.rules
	$(INSTALL) -D -m 0644 kmod/modules-load.conf $(DESTDIR)$(MODULESLOADDIR)/simpler.conf

version:
	@echo $(VERSION)

FORCE:

vmtest: kmod ksft
	tools/vmtest.sh

# the same on a 6.1 debug kernel (lockdep, KASAN, kmemleak), built once and cached
vmtest-debug: ksft
	tools/vmtest.sh --debug

vmbench: kmod bench tools
	VM_TIMEOUT=1800 VM_BASE_REV=$(BASE) tools/vmtest.sh --bench

# the fuzzer alone, longer than make check runs it, on Debian's kernel and the debug kernel
SECONDS ?= 300
fuzz: kmod ksft
	VM_ONLY=fuzz VM_HOST=0 VM_TIMEOUT=$$(( $(SECONDS) * 3 + 900 )) \
		VM_ENV="SIMPLER_FUZZ_SECONDS=$(SECONDS) $(if $(SEED),SIMPLER_FUZZ_SEED=$(SEED))" \
		tools/vmtest.sh
	VM_ONLY=fuzz VM_HOST=0 VM_TIMEOUT=$$(( $(SECONDS) * 3 + 900 )) \
		VM_ENV="SIMPLER_FUZZ_SECONDS=$(SECONDS) $(if $(SEED),SIMPLER_FUZZ_SEED=$(SEED))" \
		tools/vmtest.sh --debug

lint:
	tools/lint.sh

deps:
	tools/install-deps.sh

check:
	tools/check.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)
