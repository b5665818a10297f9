/*
 * test_strtof.c
 *	  Standalone test of VecStrtof (src/types/vecstrtof.c): for every input
 *	  it must give the C library's strtof float (bit for bit, so -0 and the
 *	  NaN's sign too), end pointer and errno.
 *
 * 1. Fixed cases: signs, zeros, leading and trailing dots, incomplete
 *	  exponents, hexadecimal, inf and nan, leading space, junk after the
 *	  number, digit counts around the fast path's 15, exponents around its
 *	  +-22, overflow and underflow.
 * 2. Random floats printed with 1 to 17 significant digits, in %g, %e and
 *	  %f forms, with and without sign.
 * 3. Float midpoints (halfway between two adjacent floats) printed with 13
 *	  to 17 significant digits: the decimals whose nearest double is the
 *	  midpoint itself, where rounding that double to float goes the wrong
 *	  way half the time.  The fast path must hand those to strtof.
 *
 * Usage: test_strtof [seed]
 *
 * test/kernels/test_strtof.c
 */
#include "vecstrtof.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTS 20

static int	failures = 0;
static long checked = 0;
static uint64_t rng = UINT64_C(20261207);

static uint64_t
next64(void)
{
	/* splitmix64 */
	uint64_t	z = (rng += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static void
check(const char *s)
{
	char	   *end1;
	char	   *end2;
	float		want;
	float		got;
	int			err1;
	int			err2;

	errno = 0;
	want = strtof(s, &end1);
	err1 = errno;
	errno = 0;
	got = VecStrtof(s, &end2);
	err2 = errno;
	checked++;
	if (memcmp(&want, &got, sizeof(float)) != 0 || end1 != end2 || err1 != err2)
	{
		if (++failures <= MAX_REPORTS)
			fprintf(stderr, "\"%s\": strtof %a (end +%d, errno %d), VecStrtof %a (end +%d, errno %d)\n",
					s, want, (int) (end1 - s), err1, got, (int) (end2 - s), err2);
	}
	/* and with no end pointer */
	errno = 0;
	got = VecStrtof(s, NULL);
	if (memcmp(&want, &got, sizeof(float)) != 0 || errno != err1)
	{
		if (++failures <= MAX_REPORTS)
			fprintf(stderr, "\"%s\" without end pointer: strtof %a, VecStrtof %a\n", s, want, got);
	}
}

static const char *const fixed[] = {
	"", "-", "+", ".", "-.", "+.", "e5", ".e5", "-e5",
	"0", "-0", "+0", "0.0", "-0.0", "00000", "-000.000", "0e0", "-0e-99999", "0e99999999999",
	"1", "-1", "+1", "12", "0012.5000", ".5", "-.5", "5.", "-5.", "5.e3", ".5e-3",
	"1e", "1e+", "1e-", "1E5", "1e+5", "1e-5", "1e-5x", "1.5f", "1.5.3", "1,2", "1 2", "1]",
	"--1", "+-1", "-+1", "1e--5", "1ee5",
	"inf", "-inf", "INF", "infinity", "-Infinity", "nan", "-nan", "NaN", "nan(123)",
	"0x1p3", "0X1P-3", "-0x10", "0x", "0xg", "00x1", "0.x1",
	" 1.5", "\t2", "\n-3", "  .5",
	"123456789012345", "1234567890123456", "12345678901234567890",
	"0.123456789012345", "0.1234567890123456", "1.000000000000000000000001",
	"9007199254740993", "999999999999999", "999999999999999e22", "999999999999999e23",
	"1e22", "1e23", "1e-22", "1e-23", "123e-24", "0.000000000000000000000001",
	"16777216", "16777217", "16777218", "16777219", "33554433", "33554435",
	"3.4028234e38", "3.4028235e38", "3.40282356e38", "3.5e38", "1e39", "-1e39", "1e400",
	"1.17549435e-38", "1.17549430e-38", "1.4e-45", "7e-46", "1e-46", "1e-400", "-1e-400",
	"0.1", "0.2", "0.3", "0.7", "1.1", "2.675", "0.0000001", "100000000000000000000000",
	"1e0000000000000000000000005", "1e-0000000000000000000000005",
	"0.0023064255", "-0.0091611631", "0.018162022", "-0.014871312",
};

static void
randomPrints(long n)
{
	char		buf[64];
	char		fmt[16];

	for (long i = 0; i < n; i++)
	{
		uint64_t	r = next64();
		float		f;
		int			digits = 1 + (int) (r % 17);
		int			form = (int) ((r >> 8) % 4);
		uint32_t	b;

		/* a random finite float: mostly near 1, sometimes any exponent */
		if ((r >> 16) % 4 == 0)
		{
			do
			{
				b = (uint32_t) next64();
				memcpy(&f, &b, sizeof(f));
			} while (!isfinite(f));
		}
		else
			f = (float) ((double) (next64() >> 11) / 9007199254740992.0 * 2.0 - 1.0) *
				powf(10.0f, (float) ((int) ((r >> 24) % 9) - 6));
		switch (form)
		{
			case 0:
				snprintf(fmt, sizeof(fmt), "%%.%dg", digits);
				break;
			case 1:
				snprintf(fmt, sizeof(fmt), "%%.%de", digits - 1);
				break;
			case 2:
				snprintf(fmt, sizeof(fmt), "%%.%df", digits);
				break;
			default:
				snprintf(fmt, sizeof(fmt), "%%+.%dG", digits);
				break;
		}
		snprintf(buf, sizeof(buf), fmt, (double) f);
		check(buf);
	}
}

static void
midpoints(long n)
{
	char		buf[64];

	for (long i = 0; i < n; i++)
	{
		uint64_t	r = next64();
		uint32_t	b;
		float		f;
		float		g;
		double		mid;
		int			e;

		/* a positive normal float below FLT_MAX, and the next one up */
		do
		{
			b = (uint32_t) r & 0x7FFFFFFF;
			memcpy(&f, &b, sizeof(f));
			r = next64();
		} while (!isnormal(f) || f == FLT_MAX);
		/* mostly exponents the fast path takes (10^-22 up) */
		if (i % 4 != 0)
		{
			f = ldexpf(frexpf(f, &e), (int) (r % 140) - 70);
			r >>= 8;
		}
		g = nextafterf(f, INFINITY);
		mid = ((double) f + (double) g) / 2;	/* exact: 25 bits */
		snprintf(buf, sizeof(buf), "%.*g", 13 + (int) (r % 5), mid);
		check(buf);
	}
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		rng = strtoull(argv[1], NULL, 10);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check(fixed[i]);
	randomPrints(1000000);
	midpoints(1000000);
	if (failures > 0)
	{
		printf("test_strtof: %d of %ld checks FAILED\n", failures, checked);
		return 1;
	}
	printf("test_strtof: VecStrtof agrees with strtof on %ld inputs\n", checked);
	return 0;
}
