#!/bin/sh
# Build glibc releases for the layout tests (tests/glibc/make_cores.py runs
# fixtures against them and writes the cores the tests read).
#
#   tests/glibc/build_releases.sh [VERSION...]      (default: 2.27 2.31 2.35 2.39 2.41)
#
# Sources come from GLIBC_GIT (a clone of git://sourceware.org/git/glibc.git or
# its mirror github.com/bminor/glibc, tags glibc-X.Y) when set, else from the
# release tarball on ftp.gnu.org. Each release is built in $GLIBC_WORK/X.Y
# (default /tmp/strand-glibc) and installed in $GLIBC_WORK/X.Y/install; a
# release already installed is skipped. Builds run one at a time under
# nice -n 19 with -j${JOBS:-2}: 2.31 took 50 minutes on two shared cores.
# Needs gcc, make, gawk, bison, python3, git or curl, xz. Old releases build with gcc 12 only
# with -fcommon and without -Werror; what does not build is reported and
# skipped.
set -u
WORK=${GLIBC_WORK:-/tmp/strand-glibc}
JOBS=${JOBS:-2}
[ $# -gt 0 ] || set -- 2.27 2.31 2.35 2.39 2.41

fetch() { # version dir
	mkdir -p "$2"
	if [ -n "${GLIBC_GIT:-}" ]; then
		# A partial clone may lack the big test-only data files: they are
		# not needed to build the library.
		git -C "$GLIBC_GIT" archive --prefix=src/ "glibc-$1" -- . ':(exclude)math/auto-libm-test-out-*' \
			':(exclude)localedata/locales/cns11643_stroke' | tar -x -C "$2"
	else
		curl -fsSL "https://ftp.gnu.org/gnu/glibc/glibc-$1.tar.xz" | tar -xJ -C "$2" &&
			mv "$2/glibc-$1" "$2/src"
	fi
}

build() { # version
	dir=$WORK/$1
	if [ -x "$dir/install/lib/libc.so.6" ]; then
		echo "glibc $1: already installed in $dir/install"
		return 0
	fi
	rm -rf "$dir" && fetch "$1" "$dir" && [ -f "$dir/src/malloc/malloc.c" ] ||
		{ echo "glibc $1: source not found"; return 1; }
	# The character set converters (iconvdata, a tenth of the build) are
	# not needed by the fixtures.
	sed -i 's/gnulib iconv iconvdata /gnulib iconv /' "$dir/src/Makeconfig"
	mkdir -p "$dir/build" && cd "$dir/build" || return 1
	# -fcommon and -Wno-error: releases before 2.30ish were written for older
	# compilers; -g keeps the symbols the "with libc" tests look up.
	CFLAGS="-O2 -g -fcommon -Wno-error -Wno-array-bounds -Wno-stringop-overflow" \
		nice -n 19 ../src/configure --prefix="$dir/install" --disable-werror --disable-profile \
		--without-selinux --disable-build-nscd --disable-timezone-tools --disable-crypt --enable-kernel=3.2 \
		>configure.log 2>&1 || { echo "glibc $1: configure failed, see $dir/build/configure.log"; return 1; }
	# CXX empty: the test helper support/links-dso-program is then built in
	# C, not linked against the host's libstdc++ (which needs a newer glibc).
	nice -n 19 make -j"$JOBS" CXX= >make.log 2>&1 || { echo "glibc $1: build failed, see $dir/build/make.log"; return 1; }
	nice -n 19 make -j"$JOBS" CXX= install >install.log 2>&1 ||
		{ echo "glibc $1: install failed, see $dir/build/install.log"; return 1; }
	echo "glibc $1: installed in $dir/install"
}

status=0
for v in "$@"; do
	(build "$v") || status=1
done
exit $status
