/*
 * vecstrtof.c
 *	  strtof, faster on the decimals clients send.
 *
 * A query vector comes as text: 1,536 elements of "0.0123456" are parsed
 * on every query, and glibc's strtof, which handles any length of input
 * with multi-precision arithmetic, was 15 % of a query's CPU on glove-1536
 * (with the rest of the parse).  Elements of up to 15 significant digits
 * (clients send 6 to 10) can be read exactly with two roundings:
 *
 * The digits form an integer m < 2^53 and a power of ten 10^k with
 * |k| <= 22; both are exact doubles, so m * 10^k (or m / 10^-k) is the
 * correctly rounded double d of the decimal x.  Rounding d to float gives
 * the float nearest x unless d lies exactly halfway between two floats:
 * every such midpoint (25 significant bits) is itself a double, and
 * rounding is monotonic, so if x lies below a midpoint, d lies at or below
 * it too, and above it if x does.  Only when d is a midpoint can d and x
 * be on different sides of one.  So a midpoint d goes to strtof, and every
 * other d is converted directly.  The results of the fast path lie between
 * 10^-22 and 9 * 10^37, so they are normal floats: no underflow or
 * overflow, and errno stays as it was, as strtof leaves it on success.
 *
 * This needs arithmetic in double precision itself (FLT_EVAL_METHOD 0:
 * SSE2 on x86-64, AArch64); elsewhere everything goes to strtof.
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vecstrtof.h"

/* the powers of ten that are exact doubles (5^22 < 2^53) */
static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

#define IS_DIGIT(c) ((unsigned) ((c) - '0') < 10)

/* more digits than this go to strtof: m stays below 2^53 */
#define FAST_MAX_DIGITS 15

float
VecStrtof(const char *s, char **end)
{
	const char *p = s;
	uint64_t	m = 0;
	int			digits = 0;		/* significant digits in m */
	int			exp10 = 0;
	int			any = 0;		/* a digit was seen */
	int			neg = 0;
	double		d;
	uint64_t	bits;

	if (FLT_EVAL_METHOD != 0)
		return strtof(s, end);
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	/* "0x1p3" is hexadecimal to strtof */
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		return strtof(s, end);
	for (; IS_DIGIT(*p); p++)
	{
		any = 1;
		if (m == 0 && *p == '0')
			continue;			/* a leading zero */
		if (++digits > FAST_MAX_DIGITS)
			return strtof(s, end);
		m = m * 10 + (*p - '0');
	}
	if (*p == '.')
	{
		for (p++; IS_DIGIT(*p); p++)
		{
			any = 1;
			exp10--;
			if (m == 0 && *p == '0')
				continue;
			if (++digits > FAST_MAX_DIGITS)
				return strtof(s, end);
			m = m * 10 + (*p - '0');
		}
	}
	/* no digit: "", ".", "inf", "nan", a space, ... */
	if (!any)
		return strtof(s, end);
	if (*p == 'e' || *p == 'E')
	{
		const char *q = p + 1;
		int			eneg = 0;
		int			e = 0;

		if (*q == '-' || *q == '+')
			eneg = *q++ == '-';
		/* "1e" or "1e+" ends before the 'e' */
		if (!IS_DIGIT(*q))
			return strtof(s, end);
		for (; IS_DIGIT(*q); q++)
			if (e < 10000)
				e = e * 10 + (*q - '0');
		exp10 += eneg ? -e : e;
		p = q;
	}
	if (end)
		*end = (char *) p;
	if (m == 0)
		return neg ? -0.0f : 0.0f;
	if (exp10 < -22 || exp10 > 22)
		return strtof(s, end);

	d = (double) m;
	d = exp10 < 0 ? d / exact_pow10[-exp10] : d * exact_pow10[exp10];
	/* a float midpoint: 1 then 28 zero bits below the float's 24 */
	memcpy(&bits, &d, sizeof(bits));
	if ((bits & 0x1FFFFFFF) == 0x10000000)
		return strtof(s, end);
	return neg ? -(float) d : (float) d;
}
