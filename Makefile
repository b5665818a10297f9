# Makefile for the vector extension (PGXS)
#
#   make                      build
#   make install              install into the PostgreSQL found by pg_config
#   make installcheck         pg_regress + isolation + TAP against a running server
#   make check-kernels        kernel and strtof tests against their references (no server)
#   make check-asan           the whole suite against an ASan+UBSan build (test/asan.sh)
#   make check-versions       build and test on PostgreSQL 17 and 18 in Debian roots, and the
#                             switch from pgvector (test/versions.sh; as root)
#   make bench-kernels        kernel micro-benchmark
#   make format / format-check

EXTENSION = vector
EXTVERSION = 0.1.3

MODULE_big = vector
OBJS = \
	src/module.o \
	src/planner/topk.o \
	src/planner/filterquals.o \
	src/kernels/kernels.o \
	src/kernels/kernels_avx2.o \
	src/kernels/kernels_avx512.o \
	src/kernels/kernels_neon.o \
	src/kernels/rabitq.o \
	src/types/vecbase.o \
	src/types/vecstrtof.o \
	src/types/vector.o \
	src/types/halfvec.o \
	src/types/sparsevec.o \
	src/types/bitvec.o \
	src/types/typeops.o \
	src/hnsw/hnsw.o \
	src/hnsw/hnswbuf.o \
	src/hnsw/hnswbuild.o \
	src/hnsw/hnswbuildgraph.o \
	src/hnsw/hnswbuildparallel.o \
	src/hnsw/hnswbuildwrite.o \
	src/hnsw/hnswcheck.o \
	src/hnsw/hnswcost.o \
	src/hnsw/hnswdisk.o \
	src/hnsw/hnswgraph.o \
	src/hnsw/hnswinsert.o \
	src/hnsw/hnswlinks.o \
	src/hnsw/hnswpage.o \
	src/hnsw/hnswrow.o \
	src/hnsw/hnswscan.o \
	src/hnsw/hnswvacuum.o \
	src/hnsw/hnswvaccache.o \
	src/hnsw/hnswcodes.o \
	src/hnsw/hnswfilter.o \
	src/hnsw/hnswvacchain.o \
	src/hnsw/hnswreclaim.o \
	src/index/veccost.o \
	src/index/vecindex.o \
	src/index/vecindexcheck.o \
	src/index/vecparallel.o \
	src/ivfflat/ivfbuild.o \
	src/ivfflat/ivfcheck.o \
	src/ivfflat/ivfcost.o \
	src/ivfflat/ivfflat.o \
	src/ivfflat/ivfinsert.o \
	src/ivfflat/ivfkmeans.o \
	src/ivfflat/ivfscan.o \
	src/ivfflat/ivfutils.o \
	src/ivfflat/ivfvacuum.o

HEADERS = src/types/vector.h src/types/halfvec.h src/types/sparsevec.h

DATA = $(wildcard sql/vector--*.sql)

# One pg_regress script per feature; the install scripts are not tests.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/vector--%.sql,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=vector

ifneq ($(wildcard test/specs/*.spec),)
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=vector
endif

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/kernels -I$(srcdir)/src/types -I$(srcdir)/src/hnsw -I$(srcdir)/src/index -I$(srcdir)/src/ivfflat -I$(srcdir)/src/planner
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

EXTRA_CLEAN = build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

include src/kernels/kernels.mk

# after pgxs: Makefile.global resets PROVE_FLAGS
PROVE_FLAGS += -I ./test/perl

SOURCES = $(wildcard src/*.c src/*.h src/*/*.c src/*/*.h test/kernels/*.c bench/*.c)

# the whole suite against a sanitizer build, in a private copy of PostgreSQL
check-asan:
	sh test/asan.sh

# PostgreSQL 17 (Debian 13) and 18 (Debian testing), each in a debootstrap
# root cached under /var/tmp: -Werror build, pg_regress, isolation, TAP, and
# the switch from the real pgvector (test/switch.sh)
check-versions:
	sh test/versions.sh

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

.PHONY: format format-check check-asan check-versions

# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard src/*.h src/*/*.h)
