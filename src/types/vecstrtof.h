/*
 * vecstrtof.h
 *	  strtof, faster on the decimals clients send.
 *
 * Plain C (no PostgreSQL header), so that test/kernels/test_strtof.c can
 * set it against the C library's strtof without a server.
 */
#ifndef VECSTRTOF_H
#define VECSTRTOF_H

/*
 * The same float, end pointer and errno as strtof(s, end) in the C locale,
 * for every input.  Short decimals ("0.0123", "-1.5e3") are read directly;
 * anything else (hexadecimal, inf, nan, leading space, more than 15
 * significant digits, exponents beyond 10^22, the rare value whose rounding
 * a double cannot settle) goes to strtof.
 */
extern float VecStrtof(const char *s, char **end);

#endif							/* VECSTRTOF_H */
