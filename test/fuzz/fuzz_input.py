#!/usr/bin/python3
"""Input fuzzer for the vector extension.

Sends well over 100,000 generated inputs to a running server and checks
each one against a model of what the extension must do:

  text     vector text input (vector_in, with and without a typmod):
           random valid vectors written in many ways, mutations of them,
           and a fixed list of edge cases (brackets, separators,
           whitespace, exponents, nan/inf, empty, more than 16000
           dimensions, very long numbers, non-ASCII)
  typmod   'text'::vector(n) and vector::vector(n) with fuzzed n
  binary   vector_recv through binary bind parameters (pipelined) and
           through binary COPY FROM STDIN (into vector, vector(3) and
           vector[] columns): wrong lengths, dimension claims up to 65535,
           unused field not 0, NaN/Inf floats, truncation, random bytes
  cast     integer[] / real[] / double precision[] / numeric[] -> vector
           with NULLs, empty and multi-dimensional arrays, non-finite and
           out-of-range values, more than 16000 elements
  bit      hamming_distance / jaccard_distance (and <~>, <%>) on bit
           strings of equal and of different lengths
  aggstate vector_avg (avg's final function, callable by anyone) on
           hand-made states: malformed, non-finite, more than 16000 sums
  sparsevec sparsevec text input ({i:v,...}/dim: valid values in any
           index order, with zeros, and mutations of them) and
           sparsevec_recv through binary bind parameters (valid payloads
           and mutations: counts, dims, order, duplicates, zero values)

An input passes when the server accepts it exactly when the model does,
with the value the model computes (float32 bits compared exactly; text
output must read back to the same bits and be the shortest such text), or
rejects it with an ERROR whose SQLSTATE class is an expected one.  An
error of class XX, a lost connection, a wrong value, an accepted invalid
input or a rejected valid one is a failure.

Usage: fuzz_input.py CONNINFO
Environment: FUZZ_SEED (default 7040), FUZZ_SCALE (multiplies the input
counts, default 1).  The seed is printed; the same seed gives the same
inputs.  Exit status 0 when there was no failure, 1 otherwise.
"""

import collections
import math
import os
import random
import re
import struct
import sys
import time
from decimal import Decimal
from fractions import Fraction

import psycopg
from psycopg import pq

if hasattr(sys, 'set_int_max_str_digits'):
    sys.set_int_max_str_digits(0)

MAX_DIM = 16000
WS = ' \t\n\r\f\v'          # whitespace around elements (pgvector's set)
F32_MIDPOINT_LIMIT = 104     # m * 2**e with m < 2**24 overflows past e = 104


# --------------------------------------------------------------- float32

def f32_bits(x):
    """The float32 bits of a double that is exactly a float32 value."""
    return struct.unpack('<I', struct.pack('<f', x))[0]


def f32_value(bits):
    return struct.unpack('<f', struct.pack('<I', bits))[0]


def f32_finite(bits):
    return (bits >> 23) & 0xFF != 0xFF


def round_f32(num, den):
    """Nearest float32 to num/den (> 0), ties to even: its bits, or None
    when it overflows to infinity."""
    e = num.bit_length() - den.bit_length() - 24

    def scaled(e):
        return (num << -e, den) if e < 0 else (num, den << e)

    n, d = scaled(e)
    while n >= d << 24:
        e += 1
        n, d = scaled(e)
    while n < d << 23:
        e -= 1
        n, d = scaled(e)
    if e < -149:
        e = -149
        n, d = scaled(e)
    m, r = divmod(n, d)
    if 2 * r > d or (2 * r == d and m & 1):
        m += 1
    if m == 1 << 24:
        m >>= 1
        e += 1
    if e > F32_MIDPOINT_LIMIT:
        return None
    return f32_bits(math.ldexp(m, e))


def is_f32_midpoint(d):
    """True when the double d lies exactly half way between two float32."""
    a = abs(d)
    if a >= 2.0 ** -126:
        m, _ = math.frexp(a)
        t = m * 2.0 ** 25
    else:
        t = a * 2.0 ** 150
    return t == int(t) and int(t) & 1 == 1


def double_to_f32(d):
    """C's (float) cast of a double: bits, or None on overflow."""
    try:
        return f32_bits(d)
    except OverflowError:
        return None


NUM_RE = re.compile(
    r'[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?'
    r'|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?'
    r'|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?'
    r'|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)')
DEC_RE = re.compile(r'([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$')
HEX_RE = re.compile(r'([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$')


def exact_decimal_f32(tok):
    """Correctly rounded float32 of a decimal token: bits or None (overflow)."""
    m = DEC_RE.match(tok)
    sign, ip, fp, ex = m.group(1), m.group(2), m.group(3) or '', m.group(4)
    neg = sign == '-'
    digits = (ip + fp).lstrip('0')
    exp = int(ex) if ex else 0
    if not digits:
        return 0x80000000 if neg else 0
    exp -= len(fp)
    stripped = digits.rstrip('0')
    exp += len(digits) - len(stripped)
    digits = stripped
    # value = int(digits) * 10**exp, 10**(order-1) <= value < 10**order
    order = len(digits) + exp
    if order > 40:
        return None
    if order < -47:
        return 0x80000000 if neg else 0
    if exp >= 0:
        bits = round_f32(int(digits) * 10 ** exp, 1)
    else:
        bits = round_f32(int(digits), 10 ** -exp)
    if bits is None:
        return None
    return bits | (0x80000000 if neg else 0)


def exact_hex_f32(tok):
    m = HEX_RE.match(tok)
    sign, ip, fp, ex = m.group(1), m.group(2), m.group(3) or '', m.group(4)
    neg = sign == '-'
    digits = (ip + fp).lstrip('0')
    exp = int(ex) if ex else 0
    if not digits:
        return 0x80000000 if neg else 0
    exp -= 4 * len(fp)
    order = 4 * len(digits) + exp
    if order > 140:
        return None
    if order < -160:
        return 0x80000000 if neg else 0
    v = int(digits, 16)
    bits = round_f32(v << exp, 1) if exp >= 0 else round_f32(v, 1 << -exp)
    if bits is None:
        return None
    return bits | (0x80000000 if neg else 0)


def parse_f32(tok):
    """What strtof + the extension make of one number token: 'nan', 'inf'
    (an infinity written as such), 'range' (overflow) or float32 bits."""
    low = tok.lower().lstrip('+-')
    if low.startswith('nan'):
        return 'nan'
    if low.startswith('inf'):
        return 'inf'
    ishex = low.startswith('0x')
    if len(tok) < 60:
        # fast path: correctly rounded double, then one more rounding,
        # which is exact unless the double sits on a float32 midpoint
        try:
            d = float.fromhex(tok) if ishex else float(tok)
        except OverflowError:
            return 'range'
        if math.isinf(d):
            return 'range'
        if d == 0 or not is_f32_midpoint(d):
            b = double_to_f32(d)
            return 'range' if b is None else b
    b = exact_hex_f32(tok) if ishex else exact_decimal_f32(tok)
    return 'range' if b is None else b


def f32_tie(s, bits):
    """True when the decimal s lies exactly half way between float32 bits
    and a neighbour (it reads back as bits only by the ties-to-even rule)."""
    v = Fraction(Decimal(s))
    x = Fraction(f32_value(bits))
    mag = bits & 0x7FFFFFFF
    for nb in (mag - 1, mag + 1):
        if 0 <= nb < 0x7F800000:
            y = Fraction(f32_value(nb | (bits & 0x80000000)))
            if v == (x + y) / 2:
                return True
    return False


def shortest_digits(x):
    """Fewest significant digits of a decimal that reads back as float32 x
    without relying on a tie (the shortest output PostgreSQL's own float4out
    promises: a decimal exactly half way to a neighbour is not used)."""
    if x == 0:
        return 1
    bits = f32_bits(x)
    for p in range(1, 10):
        s = '%.*g' % (p, x)
        if parse_f32(s) == bits and not f32_tie(s, bits):
            return p
    return 9


def sig_digits(s):
    mant = re.split('[eE]', s)[0].lstrip('+-').replace('.', '')
    mant = mant.lstrip('0')
    return max(len(mant.rstrip('0')), 1) if mant else 1


# --------------------------------------------------------------- models

REJECT = 'reject'


def libc_loose(tok, bits):
    """glibc's strtof (2.36) loses the sticky bits when it rounds a hex
    literal to a subnormal float: '0x1.000009p-129' gives 0x00100000, not
    0x00100001.  PostgreSQL's float4in and pgvector read numbers with the
    same strtof, so that is the platform's rounding, not the extension's:
    for such a token a result one unit below the exact one is accepted."""
    return tok.lower().lstrip('+-').startswith('0x') and 0 < (bits & 0x7FFFFFFF) <= 0x00800000


def model_text(s, typmod=-1, loose=None):
    """The model of vector text input: (REJECT, None) or ('accept', bits).
    When loose is a set, the positions of elements whose last bit is up to
    the C library are added to it."""
    i, n = 0, len(s)

    def skip(i):
        while i < n and s[i] in WS:
            i += 1
        return i

    i = skip(i)
    if i >= n or s[i] != '[':
        return REJECT, None
    i += 1
    vals = []
    bad = False
    while True:
        i = skip(i)
        m = NUM_RE.match(s, i)
        if not m:
            return REJECT, None
        v = parse_f32(m.group())
        if not isinstance(v, int):
            bad = True
        elif loose is not None and libc_loose(m.group(), v):
            loose.add(len(vals))
        vals.append(v)
        if len(vals) > MAX_DIM:
            return REJECT, None
        i = skip(m.end())
        if i < n and s[i] == ',':
            i += 1
        elif i < n and s[i] == ']':
            i += 1
            break
        else:
            return REJECT, None
    if skip(i) != n or bad:
        return REJECT, None
    if typmod != -1 and typmod != len(vals):
        return REJECT, None
    return 'accept', vals


def model_binary(p, typmod=-1):
    if len(p) < 4:
        return REJECT, None
    dim, unused = struct.unpack('>HH', p[:4])
    if dim < 1 or dim > MAX_DIM or (typmod != -1 and dim != typmod) or unused != 0:
        return REJECT, None
    if len(p) - 4 != 4 * dim:
        return REJECT, None
    vals = list(struct.unpack('>%dI' % dim, p[4:]))
    if not all(f32_finite(b) for b in vals):
        return REJECT, None
    return 'accept', vals


SP_MAX_DIM = 1000000000
SP_MAX_NNZ = 16000
SP_INT_RE = re.compile(r'[+-]?[0-9]+')


def nonzero_token(tok):
    """Whether a number token (decimal or hex) is written as non-zero."""
    low = tok.lower().lstrip('+-')
    if low.startswith('0x'):
        return any(c not in '0.' for c in low[2:].split('p')[0])
    try:
        return Decimal(tok) != 0
    except Exception:
        return True


def model_sparse_text(s, loose=None):
    """The model of sparsevec text input: (REJECT, None) or ('accept',
    (dim, [(0-based index, bits)] sorted, zeros dropped)).  With loose a
    set, the indices whose value's last bit is up to the C library."""
    i, n = 0, len(s)

    def skip(i):
        while i < n and s[i] in WS:
            i += 1
        return i

    i = skip(i)
    if i >= n or s[i] != '{':
        return REJECT, None
    i = skip(i + 1)
    elems = []
    bad = False
    if i < n and s[i] == '}':
        i += 1
    else:
        while True:
            m = SP_INT_RE.match(s, i)
            if not m:
                return REJECT, None
            idx = int(m.group())
            i = skip(m.end())
            if i >= n or s[i] != ':':
                return REJECT, None
            i = skip(i + 1)
            m = NUM_RE.match(s, i)
            if not m:
                return REJECT, None
            v = parse_f32(m.group())
            if not isinstance(v, int):
                bad = True
            elif v & 0x7FFFFFFF == 0 and nonzero_token(m.group()):
                # underflow to zero: an error, as in pgvector
                bad = True
            elif loose is not None and libc_loose(m.group(), v):
                loose.add(idx - 1)
            elems.append((idx, v))
            i = skip(m.end())
            if i < n and s[i] == ',':
                i = skip(i + 1)
            elif i < n and s[i] == '}':
                i += 1
                break
            else:
                return REJECT, None
    i = skip(i)
    if i >= n or s[i] != '/':
        return REJECT, None
    i = skip(i + 1)
    m = SP_INT_RE.match(s, i)
    if not m or skip(m.end()) != n or bad:
        return REJECT, None
    dim = int(m.group())
    if dim < 1 or dim > SP_MAX_DIM:
        return REJECT, None
    idxs = sorted(e[0] for e in elems)
    if any(x < 1 or x > dim for x in idxs) or len(set(idxs)) != len(idxs):
        return REJECT, None
    kept = sorted((x - 1, b) for x, b in elems if b & 0x7FFFFFFF)
    if len(kept) > SP_MAX_NNZ:
        return REJECT, None
    return 'accept', (dim, kept)


def model_sparse_binary(p):
    if len(p) < 12:
        return REJECT, None
    dim, nnz, unused = struct.unpack('>iii', p[:12])
    if dim < 1 or dim > SP_MAX_DIM or nnz < 0 or nnz > dim or nnz > SP_MAX_NNZ or unused != 0:
        return REJECT, None
    if len(p) - 12 != 8 * nnz:
        return REJECT, None
    idx = struct.unpack('>%di' % nnz, p[12:12 + 4 * nnz])
    vals = struct.unpack('>%dI' % nnz, p[12 + 4 * nnz:])
    if any(x < 0 or x >= dim for x in idx) or any(idx[k] <= idx[k - 1] for k in range(1, nnz)):
        return REJECT, None
    if not all(f32_finite(b) and b & 0x7FFFFFFF for b in vals):
        return REJECT, None
    return 'accept', (dim, list(zip(idx, vals)))


def decode_sparse_send(b):
    dim, nnz, unused = struct.unpack('>iii', b[:12])
    idx = struct.unpack('>%di' % nnz, b[12:12 + 4 * nnz])
    vals = struct.unpack('>%dI' % nnz, b[12 + 4 * nnz:])
    return dim, unused, list(zip(idx, vals))


def decode_send(b):
    """vector_send output: (dim, unused, [bits])."""
    dim, unused = struct.unpack('>HH', b[:4])
    return dim, unused, list(struct.unpack('>%dI' % ((len(b) - 4) // 4), b[4:]))


# --------------------------------------------------------------- results

class Results:
    def __init__(self):
        self.accepted = collections.Counter()
        self.rejected = collections.Counter()      # by SQLSTATE
        self.phase_rejected = collections.defaultdict(collections.Counter)
        self.failures = collections.Counter()
        self.examples = collections.defaultdict(list)
        self.skipped = collections.Counter()
        self.total = 0

    def accept(self, phase):
        self.total += 1
        self.accepted[phase] += 1

    def reject(self, phase, sqlstate):
        self.total += 1
        self.rejected[sqlstate] += 1
        self.phase_rejected[phase][sqlstate] += 1

    def fail(self, phase, kind, detail):
        self.total += 1
        key = '%s: %s' % (phase, kind)
        self.failures[key] += 1
        if len(self.examples[key]) < 5:
            if len(detail) > 600:
                detail = detail[:600] + '...'
            self.examples[key].append(detail.replace('\n', '\\n'))

    def nfail(self):
        return sum(self.failures.values())


def vt_note(s):
    """Failures of inputs with a vertical tab are listed apart: PostgreSQL's
    scanner_isspace() leaves it out while pgvector (and strtof) count it
    as whitespace."""
    return ' (input has a vertical tab)' if '\v' in s else ''


def short(x, n=160):
    r = repr(x)
    return r if len(r) <= n else r[:n] + '...(%d chars)' % len(r)


def check_sqlstate(res, phase, sqlstate, allowed, what):
    """Record a rejection; its class must be one of allowed."""
    if sqlstate is None or sqlstate[:2] not in allowed:
        res.fail(phase, 'unexpected SQLSTATE %s' % sqlstate, what)
    else:
        res.reject(phase, sqlstate)


# --------------------------------------------------------------- generators

SPECIAL_BITS = [0, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x80800000,
                0x00000001, 0x80000001, 0x007FFFFF, 0x3F800000, 0x3F800001,
                0x3F7FFFFF, 0x4B7FFFFF, 0x4B800001, 0x33800000, 0x7F000000]


def rand_bits(rng):
    r = rng.random()
    if r < 0.3:
        return f32_bits_round(rng.uniform(-1, 1))
    if r < 0.55:
        while True:
            b = rng.getrandbits(32)
            if f32_finite(b):
                return b
    if r < 0.65:
        return f32_bits_round(float(rng.randint(-100000, 100000)))
    if r < 0.75:
        return rng.getrandbits(23) | (rng.getrandbits(1) << 31)
    if r < 0.9:
        return f32_bits_round(rng.uniform(-1e6, 1e6))
    return rng.choice(SPECIAL_BITS)


def f32_bits_round(d):
    b = double_to_f32(d)
    return 0x7F7FFFFF if b is None else b


def shortest_text(x):
    if x == 0:
        return '-0' if math.copysign(1, x) < 0 else '0'
    bits = f32_bits(x)
    for p in range(1, 10):
        s = '%.*g' % (p, x)
        if parse_f32(s) == bits:
            return s
    return '%.9g' % x


def fmt_value(rng, bits):
    x = f32_value(bits)
    r = rng.random()
    if r < 0.25:
        s = shortest_text(x)
    elif r < 0.45:
        s = '%.9g' % x
    elif r < 0.55:
        s = '%.*e' % (rng.randint(8, 25), x)
    elif r < 0.65:
        s = str(Decimal(x))          # exact, E notation for small values
    elif r < 0.72:
        s = format(Decimal(x), 'f')  # exact, positional (long)
    elif r < 0.8:
        s = x.hex()
    elif r < 0.86:
        s = '%.9G' % x
    elif r < 0.92:
        s = '%.9g' % x
        if x.is_integer() and abs(x) < 1e15:
            s = '%d%s' % (int(x), rng.choice(['', '.', '.0', '.000', 'e0', 'E+00']))
            if bits == 0x80000000:
                s = '-' + s
    else:
        s = '%.9g' % x
        sign = '-' if s.startswith('-') else ''
        s = sign + '0' * rng.randint(1, 5) + s.lstrip('-')
    if not s.startswith('-') and rng.random() < 0.1:
        s = '+' + s
    return s


def rand_ws(rng):
    r = rng.random()
    if r < 0.75:
        return ''
    if r < 0.93:
        return ' ' * rng.randint(1, 3)
    return ''.join(rng.choice(WS) for _ in range(rng.randint(1, 3)))


def rand_dim(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(1, 8)
    if r < 0.9:
        return rng.randint(1, 64)
    if r < 0.995:
        return rng.randint(65, 1000)
    return rng.randint(1001, 4000)


def valid_text(rng, dim=None):
    dim = dim or rand_dim(rng)
    bits = [rand_bits(rng) for _ in range(dim)]
    parts = [rand_ws(rng) + fmt_value(rng, b) + rand_ws(rng) for b in bits]
    return rand_ws(rng) + '[' + ','.join(parts) + ']' + rand_ws(rng)


ALPHABET = '[],.eE+-0123456789 \t\n\r\f\vxXpPinfaINFA()_;:{}"\'' + '\u00a0\u2212\uff11\u00e9'
NASTY = ['nan', 'NaN', '-nan', 'inf', '-inf', 'Infinity', '-INFINITY', 'infinit', 'nan(123)',
         'nan(', '1e39', '-1e39', '1e-50', '1e-46', '7e-46', '3.4028235e38', '3.4028236e38',
         '340282356779733661637539395458142568448', '0x', '0x1p', '0x1p128', '0x1.ffffffp127',
         '0x1p-150', '0x1.8p-150', '0x1.fffffep127', 'e', 'E+', '1e', '1e+', '..', '--', '++',
         ',,', '[', ']', '[]', ' ', '\v', '\f', '\u00a0', '\u2212', '\uff11', '\u0661',
         '\U0001F600', '\u200b', '1e99999', '1e-99999', '9' * 60, '0.' + '0' * 60 + '1',
         '.', '+.', '-.e1', '1_0', '1,2', '0b1', '1f', '1d', '1.0.0', '\t', '\n']


def mutate(rng, s):
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        pos = rng.randint(0, len(s))
        if op == 0 and s:
            pos = min(pos, len(s) - 1)
            s = s[:pos] + s[pos + 1:]
        elif op == 1:
            s = s[:pos] + rng.choice(ALPHABET) + s[pos:]
        elif op == 2 and s:
            pos = min(pos, len(s) - 1)
            s = s[:pos] + rng.choice(ALPHABET) + s[pos + 1:]
        elif op == 3:
            s = s[:pos] + rng.choice(NASTY) + s[pos:]
        elif op == 4:
            s = s[:pos]
        elif op == 5 and s:
            a = rng.randint(0, len(s) - 1)
            b = rng.randint(a, min(len(s), a + 20))
            s = s[:pos] + s[a:b] + s[pos:]
        elif op == 6:
            # replace one element with a nasty token
            parts = s.split(',')
            k = rng.randrange(len(parts))
            tok = rng.choice(NASTY)
            parts[k] = re.sub(r'[^\[\]\s]+', tok, parts[k], count=1) if parts[k].strip('[] ') else tok
            s = ','.join(parts)
        elif op == 7:
            s = s.replace(',', rng.choice([';', ' ', ',,', ', ,', '\t,', ',\v', '|']), 1)
        else:
            s = rng.choice(['[', ']', '{', '(', '']) + s + rng.choice([']', '[', '}', ')', '', ' x'])
    return s


def edge_texts():
    e = ['', ' ', '[', ']', '[]', '[ ]', '[\t]', '[,]', '[1', '1]', '1', '[1]]', '[[1]]',
         '[1,,2]', '[,1]', '[1,]', '[1 2]', '[1;2]', '(1,2)', '{1,2}', '[1.2.3]', '[--1]',
         '[+-1]', '[1e]', '[1e+]', '[e1]', '[.]', '[.e1]', '[0x]', '[0x.p1]', '[0x.8]',
         '[nan]', '[NaN]', '[-nan]', '[nan(1)]', '[inf]', '[-Infinity]', '[infinit]',
         '[1e38]', '[1e39]', '[-1e39]', '[3.4028235e38]', '[3.40282357e38]',
         '[3.4028236e38]', '[340282356779733661637539395458142568447]',
         '[340282356779733661637539395458142568448]', '[1e-45]', '[1e-46]', '[7e-46]',
         '[7.1e-46]', '[1e-400]', '[1e400]', '[1e99999999999999999999]',
         '[1e-99999999999999999999]', '[0e99999999999]', '[0x1p-149]', '[0x1p-150]',
         '[0x1.8p-150]', '[0x1p128]', '[0x1.fffffep127]', '[0x1.ffffffp127]',
         '[0x1.fffffefffffffffffp127]', '[ 1 , 2 ]', '\t[1]\n', '[1]x', 'x[1]', '[1] [2]',
         '[\uff11]', '[\u22121]', '[1\u00a0]', '[\u00a01]', '[1]\u00a0', '[\u0661]',
         '[1\u200b]', '[\U0001F600]', '[1,\U0001F600]', '\ufeff[1]', '[1e\u00b2]',
         '[\v1]', '[1\v]', '[1]\v', '\v[1]', '[1\v,2]', '[1,\v2]', '[\f1\f]', '[1\r\n,2]',
         '[-0]', '[+0]', '[-0.0e-5]', '[00000000000000000000001]', '[1.]', '[.5]', '[+.5]',
         '[5e-1]', '[0X1P0]', '[0x1P+0]', '[-0x0p0]', '[1e+0038]', '[1E-0045]']
    # very long numbers
    e += ['[' + '1' * 50000 + ']', '[0.' + '0' * 5000 + '1]', '[1.' + '0' * 10000 + '1]',
          '[' + '9' * 38 + ']', '[' + '9' * 39 + ']', '[' + '0' * 10000 + '1]',
          '[' + '1' * 30 + 'e-' + '0' * 20 + '10]', '[0x' + 'f' * 5000 + ']',
          '[0x0.' + '0' * 100 + '1p0]', '[1' + '0' * 3000 + 'e-3000]',
          '[-' + '3' * 40 + '.' + '3' * 40 + 'e-39]', '[3' + '.0' + '0' * 100 + '1e-1]']
    # dimensions
    e += ['[' + ','.join(['1'] * MAX_DIM) + ']', '[' + ','.join(['1'] * (MAX_DIM + 1)) + ']',
          '[' + ','.join(['0'] * 20000) + ']', '[' + ','.join(['-1.5e-3'] * 100000) + ']',
          '[' + ','.join(['1'] * MAX_DIM) + ',]', '[' + ',' * 20000 + ']',
          '[' + ','.join(['nan'] * 17000) + ']', '[' + ' ' * 100000 + '1]']
    return e


def rand_typmod(rng, dim):
    r = rng.random()
    if r < 0.8:
        return -1
    if r < 0.9:
        return dim
    if r < 0.95:
        return max(1, dim + rng.choice([-1, 1]))
    return rng.choice([0, -5, 1, MAX_DIM, MAX_DIM + 1, 2 ** 31 - 1, -2 ** 31])


# --------------------------------------------------------------- SQL

SETUP = r"""
CREATE EXTENSION IF NOT EXISTS vector;
DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;

-- vector_in on each input with its typmod; the SQLSTATE of the error, or
-- the result's send bytes, text, and whether the text reads back to the
-- same bits
CREATE FUNCTION fuzz.text_in(inputs text[], typmods int[],
	OUT ord int, OUT state text, OUT msg text, OUT outtext text, OUT sendhex text, OUT rt text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE v vector; w vector;
BEGIN
	FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
		ord := i; msg := NULL; outtext := NULL; sendhex := NULL; rt := NULL;
		BEGIN
			v := vector_in(inputs[i]::cstring, 'vector'::regtype::oid, typmods[i]);
			state := '00000';
		EXCEPTION WHEN others THEN
			state := SQLSTATE; msg := SQLERRM;
		END;
		IF state = '00000' THEN
			outtext := v::text;
			sendhex := encode(vector_send(v), 'hex');
			BEGIN
				w := outtext::vector;
				rt := CASE WHEN vector_send(w) = vector_send(v) THEN 'same' ELSE 'differs' END;
			EXCEPTION WHEN others THEN
				rt := 'error ' || SQLSTATE || ': ' || SQLERRM;
			END;
		END IF;
		RETURN NEXT;
	END LOOP;
END $$;

-- the SQL spelling: 'text'::vector(mod) or ('text'::vector)::vector(mod)
CREATE FUNCTION fuzz.typmod_in(inputs text[], mods text[], viacast bool[],
	OUT ord int, OUT state text, OUT msg text, OUT sendhex text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE b bytea;
BEGIN
	FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
		ord := i; msg := NULL; sendhex := NULL;
		BEGIN
			IF viacast[i] THEN
				EXECUTE format('SELECT vector_send((%L::vector)::vector(%s))', inputs[i], mods[i]) INTO b;
			ELSE
				EXECUTE format('SELECT vector_send(%L::vector(%s))', inputs[i], mods[i]) INTO b;
			END IF;
			state := '00000'; sendhex := encode(b, 'hex');
		EXCEPTION WHEN others THEN
			state := SQLSTATE; msg := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
END $$;

-- array casts: the array literal is read first (its own errors are not
-- the extension's and are reported as state 'A' || SQLSTATE), then cast
CREATE FUNCTION fuzz.cast_in(inputs text[], kinds text[], typmods int[],
	OUT ord int, OUT state text, OUT msg text, OUT sendhex text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE v vector; ai int[]; ar real[]; ad double precision[]; an numeric[];
BEGIN
	FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
		ord := i; msg := NULL; sendhex := NULL; state := NULL;
		BEGIN
			CASE kinds[i]
				WHEN 'int' THEN ai := inputs[i]::int[];
				WHEN 'real' THEN ar := inputs[i]::real[];
				WHEN 'double' THEN ad := inputs[i]::double precision[];
				ELSE an := inputs[i]::numeric[];
			END CASE;
		EXCEPTION WHEN others THEN
			state := 'A' || SQLSTATE; msg := SQLERRM;
		END;
		IF state IS NULL THEN
			BEGIN
				IF typmods[i] = -1 THEN
					CASE kinds[i]
						WHEN 'int' THEN v := ai::vector;
						WHEN 'real' THEN v := ar::vector;
						WHEN 'double' THEN v := ad::vector;
						ELSE v := an::vector;
					END CASE;
				ELSE
					CASE kinds[i]
						WHEN 'int' THEN v := array_to_vector(ai, typmods[i], true);
						WHEN 'real' THEN v := array_to_vector(ar, typmods[i], true);
						WHEN 'double' THEN v := array_to_vector(ad, typmods[i], true);
						ELSE v := array_to_vector(an, typmods[i], true);
					END CASE;
				END IF;
				state := '00000'; sendhex := encode(vector_send(v), 'hex');
			EXCEPTION WHEN others THEN
				state := SQLSTATE; msg := SQLERRM;
			END;
		END IF;
		RETURN NEXT;
	END LOOP;
END $$;

-- hamming and jaccard distance of each pair, by function or by operator
CREATE FUNCTION fuzz.bit_in(a text[], b text[], useop bool[],
	OUT ord int, OUT hstate text, OUT hval text, OUT jstate text, OUT jval text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE x varbit; y varbit;
BEGIN
	FOR i IN 1 .. coalesce(array_length(a, 1), 0) LOOP
		ord := i; hval := NULL; jval := NULL;
		x := a[i]::varbit; y := b[i]::varbit;
		BEGIN
			IF useop[i] THEN hval := (x <~> y)::text;
			ELSE hval := hamming_distance(x, y)::text; END IF;
			hstate := '00000';
		EXCEPTION WHEN others THEN hstate := SQLSTATE;
		END;
		BEGIN
			IF useop[i] THEN jval := (x <%> y)::text;
			ELSE jval := jaccard_distance(x, y)::text; END IF;
			jstate := '00000';
		EXCEPTION WHEN others THEN jstate := SQLSTATE;
		END;
		RETURN NEXT;
	END LOOP;
END $$;

-- vector_avg, the final function of avg(vector), on hand-made states
-- (callable by anyone): NULL, a vector, or the SQLSTATE of the error
CREATE FUNCTION fuzz.avg_in(states text[],
	OUT ord int, OUT state text, OUT msg text, OUT gotnull bool, OUT sendhex text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE v vector; st double precision[];
BEGIN
	FOR i IN 1 .. coalesce(array_length(states, 1), 0) LOOP
		ord := i; msg := NULL; sendhex := NULL; gotnull := NULL;
		st := states[i]::double precision[];
		BEGIN
			v := vector_avg(st);
			state := '00000'; gotnull := v IS NULL;
			IF v IS NOT NULL THEN
				sendhex := encode(vector_send(v), 'hex');
			END IF;
		EXCEPTION WHEN others THEN
			state := SQLSTATE; msg := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
END $$;

-- sparsevec_in on each input: the SQLSTATE of the error, or the send
-- bytes, text, and whether the text reads back to the same value
CREATE FUNCTION fuzz.sparse_in(inputs text[],
	OUT ord int, OUT state text, OUT msg text, OUT outtext text, OUT sendhex text, OUT rt text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE v sparsevec; w sparsevec;
BEGIN
	FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
		ord := i; msg := NULL; outtext := NULL; sendhex := NULL; rt := NULL;
		BEGIN
			v := inputs[i]::sparsevec;
			state := '00000';
		EXCEPTION WHEN others THEN
			state := SQLSTATE; msg := SQLERRM;
		END;
		IF state = '00000' THEN
			outtext := v::text;
			sendhex := encode(sparsevec_send(v), 'hex');
			BEGIN
				w := outtext::sparsevec;
				rt := CASE WHEN sparsevec_send(w) = sparsevec_send(v) THEN 'same' ELSE 'differs' END;
			EXCEPTION WHEN others THEN
				rt := 'error ' || SQLSTATE || ': ' || SQLERRM;
			END;
		END IF;
		RETURN NEXT;
	END LOOP;
END $$;

CREATE TABLE fuzz.bin (id int, v vector);
CREATE TABLE fuzz.bin3 (id int, v vector(3));
CREATE TABLE fuzz.binarr (id int, v vector(2)[]);
"""


class Fuzzer:
    def __init__(self, dsn, seed, scale):
        self.dsn = dsn
        self.seed = seed
        self.scale = scale
        self.res = Results()
        self.conn = None

    def n(self, base):
        return max(1, int(base * self.scale))

    def connect(self):
        deadline = time.time() + 60
        while True:
            try:
                c = psycopg.connect(self.dsn, autocommit=True)
                c.execute("SET statement_timeout = '120s'")
                c.execute('SET client_min_messages = warning')
                return c
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def lost(self, e):
        """Whether an error means the connection is gone (no SQLSTATE:
        the server closed it or died), as opposed to a clean ERROR."""
        return e.sqlstate is None or self.conn is None or self.conn.broken or self.conn.closed

    def ensure_conn(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = self.connect()
        return self.conn

    # run one batch through a set-returning function; on a lost connection
    # (a crash) find the first input of the batch that kills the server
    def run_batch(self, phase, query, columns):
        try:
            return self.ensure_conn().execute(query, columns).fetchall()
        except psycopg.OperationalError as e:
            if not self.lost(e):
                raise
            self.conn = None
            culprit = None
            n = len(columns[0])
            for k in range(n):
                single = [[c[k]] for c in columns]
                try:
                    self.ensure_conn().execute(query, single).fetchall()
                except psycopg.Error as e2:
                    if self.lost(e2):
                        self.conn = None
                        culprit = [c[k] for c in columns]
                        break
            self.res.fail(phase, 'connection lost (server crash?)',
                          'batch of %d: %s; first input that loses it alone: %s'
                          % (n, str(e).strip(), short(culprit, 400)))
            for _ in range(n):
                self.res.total += 1
            return None

    # ---------------------------------------------------------- text
    def phase_text(self, rng):
        phase = 'text'
        inputs = []
        for s in edge_texts():
            inputs.append((s, -1))
        for s in ['[1,2,3]', '[1, 2, 3]', ' [1,2,3] ']:
            for t in [3, 2, 4, 0, -5, 1, MAX_DIM, 2 ** 31 - 1]:
                inputs.append((s, t))
        big = '[' + ','.join(['1'] * MAX_DIM) + ']'
        inputs += [(big, MAX_DIM), (big, MAX_DIM - 1), (big, 1)]
        nvalid = self.n(30000)
        nmut = self.n(40000)
        for _ in range(nvalid):
            s = valid_text(rng)
            inputs.append((s, rand_typmod(rng, s.count(',') + 1)))
        for _ in range(nmut):
            s = mutate(rng, valid_text(rng, rng.randint(1, 6)))
            s = s.replace('\x00', '')
            inputs.append((s, rand_typmod(rng, s.count(',') + 1)))

        # batches of at most 1000 inputs and 2 MB
        batch, size = [], 0
        checked_shortest = 0
        for item in inputs + [None]:
            if item is not None:
                batch.append(item)
                size += len(item[0])
            if batch and (item is None or len(batch) >= 1000 or size > 2000000):
                rows = self.text_batch(batch)
                if rows is not None:
                    for (s, t), row in zip(batch, rows):
                        checked_shortest += self.check_text(phase, s, t, row, checked_shortest < 20000)
                batch, size = [], 0
        return len(inputs)

    def text_batch(self, batch):
        phase = 'text'
        q = 'SELECT ord, state, msg, outtext, sendhex, rt FROM fuzz.text_in(%b, %t::int[]) ORDER BY ord'
        try:
            return self.ensure_conn().execute(
                q, [[b[0] for b in batch], '{' + ','.join(str(b[1]) for b in batch) + '}']).fetchall()
        except psycopg.OperationalError as e:
            if not self.lost(e):
                raise
            self.conn = None
            culprit = None
            for s, t in batch:
                try:
                    self.ensure_conn().execute(q, [[s], '{%d}' % t]).fetchall()
                except psycopg.Error as e2:
                    if self.lost(e2):
                        self.conn = None
                        culprit = (s, t)
                        break
            self.res.fail(phase, 'connection lost (server crash?)',
                          'batch of %d: %s; the input that loses it alone: %s'
                          % (len(batch), str(e).strip(), short(culprit, 400)))
            self.res.total += len(batch) - 1
            return None

    def check_text(self, phase, s, typmod, row, check_shortest):
        _, state, msg, outtext, sendhex, rt = row
        loose = set()
        verdict, bits = model_text(s, typmod, loose)
        what = 'input %s typmod %d' % (short(s), typmod)
        if state != '00000':
            if verdict != REJECT:
                self.res.fail(phase, 'valid input rejected' + vt_note(s), '%s: %s %s' % (what, state, msg))
            else:
                check_sqlstate(self.res, phase, state, ('22', '54'), '%s: %s %s' % (what, state, msg))
            return 0
        if verdict == REJECT:
            self.res.fail(phase, 'invalid input accepted', '%s -> %s' % (what, short(outtext)))
            return 0
        dim, unused, got = decode_send(bytes.fromhex(sendhex))
        for k in loose:
            if k < len(got) and got[k] == bits[k] - 1:
                bits[k] = got[k]
                self.res.skipped['text: hex subnormal rounded by glibc strtof without its sticky bits'] += 1
        if dim != len(bits) or unused != 0 or got != bits:
            self.res.fail(phase, 'wrong value', '%s -> %s; expected bits %s, got %s'
                          % (what, short(outtext), short(['%08x' % b for b in bits]),
                             short(['%08x' % b for b in got])))
            return 0
        if rt != 'same':
            self.res.fail(phase, 'output does not read back', '%s -> %s: %s' % (what, short(outtext), rt))
            return 0
        # the text itself, read by an independent parser
        elems = outtext.strip('[]').split(',')
        if len(elems) != dim or [parse_f32(x) for x in elems] != bits:
            self.res.fail(phase, 'output text is not exact', '%s -> %s' % (what, short(outtext)))
            return 0
        n = 0
        if check_shortest:
            for k in {0, dim - 1}:
                n += 1
                x = f32_value(bits[k])
                if sig_digits(elems[k]) > shortest_digits(x):
                    self.res.fail(phase, 'output not shortest',
                                  '%s: element %d printed %s, %d digits suffice'
                                  % (what, k, elems[k], shortest_digits(x)))
                    return n
        self.res.accept(phase)
        return n

    # ---------------------------------------------------------- typmod
    def phase_typmod(self, rng):
        phase = 'typmod'
        mods = {'1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '03': 3, "'3'": 3, ' 2 ': 2, "'16000'": MAX_DIM,
                '16000': MAX_DIM, "' 3'": 3}
        bad_mods = ['0', '-1', '16001', '65535', '2147483647', '2147483648', '99999999999999', 'a',
                    '1,2', '3.5', '+3', '1e1', "'3x'", "''", 'NULL', "'-3'", '3, 3']
        items = []
        for _ in range(self.n(3000)):
            if rng.random() < 0.6:
                m = rng.choice(list(mods))
            else:
                m = rng.choice(bad_mods)
            d = rng.randint(1, 5)
            s = valid_text(rng, d) if rng.random() < 0.9 else mutate(rng, valid_text(rng, d))
            items.append((s, m, rng.random() < 0.5))
        q = 'SELECT ord, state, msg, sendhex FROM fuzz.typmod_in(%b, %b, %b) ORDER BY ord'
        for k in range(0, len(items), 500):
            batch = items[k:k + 500]
            rows = self.run_batch(phase, q, [[b[0] for b in batch], [b[1] for b in batch],
                                             [b[2] for b in batch]])
            if rows is None:
                continue
            for (s, m, viacast), (_, state, msg, sendhex) in zip(batch, rows):
                loose = set()
                verdict, bits = model_text(s, -1, loose)
                if m not in mods:
                    verdict = REJECT
                elif verdict != REJECT and len(bits) != mods[m]:
                    verdict = REJECT
                what = '%s::vector(%s)%s' % (short(s), m, ' via a cast' if viacast else '')
                if state != '00000':
                    if verdict != REJECT:
                        self.res.fail(phase, 'valid input rejected' + vt_note(s), '%s: %s %s' % (what, state, msg))
                    else:
                        check_sqlstate(self.res, phase, state, ('22', '42', '54'), '%s: %s %s' % (what, state, msg))
                elif verdict == REJECT:
                    self.res.fail(phase, 'invalid input accepted', what)
                elif not all(g == b or (k in loose and g == b - 1)
                             for k, (g, b) in enumerate(zip(decode_send(bytes.fromhex(sendhex))[2], bits))):
                    self.res.fail(phase, 'wrong value', what)
                else:
                    self.res.accept(phase)
        return len(items)

    # ---------------------------------------------------------- binary
    def valid_payload(self, rng, dim=None):
        dim = dim or rand_dim(rng)
        return struct.pack('>HH', dim, 0) + b''.join(struct.pack('>I', rand_bits(rng)) for _ in range(dim))

    NAN_INF = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000,
               0x7F800000, 0xFF800000]

    def mutate_payload(self, rng, p):
        p = bytearray(p)
        for _ in range(rng.randint(1, 2)):
            op = rng.randrange(9)
            dim = struct.unpack('>H', bytes(p[:2]))[0] if len(p) >= 2 else 0
            if op == 0 and len(p) >= 2:
                p[0:2] = struct.pack('>H', rng.choice([0, 1, dim - 1 if dim else 2, dim + 1, MAX_DIM,
                                                       MAX_DIM + 1, 32767, 32768, 65535,
                                                       rng.getrandbits(16)]) & 0xFFFF)
            elif op == 1 and len(p) >= 4:
                p[2:4] = struct.pack('>H', rng.randint(1, 65535))
            elif op == 2:
                del p[rng.randint(0, len(p)):]
            elif op == 3:
                p += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 9)))
            elif op in (4, 5) and len(p) >= 8:
                k = 4 + 4 * rng.randrange((len(p) - 4) // 4)
                p[k:k + 4] = struct.pack('>I', rng.choice(self.NAN_INF))
            elif op == 6 and p:
                k = rng.randrange(len(p))
                p[k] ^= 1 << rng.randrange(8)
            elif op == 7:
                p = bytearray(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
            else:
                # a header that claims many dimensions over a short body
                p = bytearray(struct.pack('>HH', rng.choice([MAX_DIM, 65535, 40000]), 0)
                              + bytes(4 * rng.randint(0, 4)))
        return bytes(p)

    def binary_payloads(self, rng, count):
        out = [b'', b'\x00', b'\x00\x01', b'\x00\x01\x00', b'\x00\x01\x00\x00',
               struct.pack('>HH', 0, 0), struct.pack('>HHf', 0, 0, 1.0),
               struct.pack('>HH', 65535, 0), struct.pack('>HH', 65535, 0) + bytes(8),
               struct.pack('>HH', MAX_DIM + 1, 0) + bytes(4 * (MAX_DIM + 1)),
               struct.pack('>HH', MAX_DIM, 0) + bytes(4 * MAX_DIM),
               struct.pack('>HH', MAX_DIM, 0) + bytes(4 * MAX_DIM - 1),
               struct.pack('>HH', 1, 1) + struct.pack('>f', 1.0),
               struct.pack('>HH', 1, 0x8000) + struct.pack('>f', 1.0),
               struct.pack('>HH', 1, 0) + struct.pack('>I', 0x80000000),
               struct.pack('>HH', 1, 0) + struct.pack('>I', 0x00000001)]
        for b in self.NAN_INF:
            out.append(struct.pack('>HHf', 2, 0, 1.0)[:4] + struct.pack('>fI', 1.0, b))
        while len(out) < count:
            p = self.valid_payload(rng)
            if rng.random() < 0.6:
                p = self.mutate_payload(rng, p)
            out.append(p)
        return out

    def backend_mem(self, pid):
        # under a sanitizer (test/asan.sh) the allocator keeps freed memory
        # in quarantine and per-size-class pools: RSS says nothing here
        if os.environ.get('VECTOR_SANITIZER'):
            return None
        try:
            with open('/proc/%d/status' % pid) as f:
                st = dict(l.split(':', 1) for l in f if ':' in l)
            return int(st['VmHWM'].split()[0]), int(st['VmPeak'].split()[0])
        except (OSError, KeyError, ValueError):
            return None

    def phase_binary_params(self, rng):
        phase = 'binary'
        c = self.ensure_conn()
        vec_oid = c.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
        payloads = self.binary_payloads(rng, self.n(20000))
        pg = pq.PGconn.connect(self.dsn.encode())
        if pg.status != pq.ConnStatus.OK:
            raise RuntimeError(pg.error_message.decode())
        mem0 = self.backend_mem(pg.backend_pid)
        pg.enter_pipeline_mode()
        q = b'SELECT $1::vector, ($1::vector)::text'
        slowest = 0.0
        for k in range(0, len(payloads), 500):
            chunk = payloads[k:k + 500]
            t0 = time.time()
            for p in chunk:
                pg.send_query_params(q, [p], [vec_oid], [1], result_format=1)
                pg.pipeline_sync()
            results, cur, synced = [], None, 0
            while synced < len(chunk):
                r = pg.get_result()
                if r is None:
                    if pg.status != pq.ConnStatus.OK:
                        break
                    continue
                if r.status == pq.ExecStatus.PIPELINE_SYNC:
                    results.append(cur)
                    cur = None
                    synced += 1
                else:
                    cur = r
            slowest = max(slowest, (time.time() - t0) / len(chunk))
            if synced < len(chunk):
                self.res.fail(phase, 'connection lost (server crash?)',
                              'in the pipelined chunk starting at payload %d: %s'
                              % (k, pg.error_message.decode(errors='replace')))
                self.res.total += len(chunk) - 1
                pg.finish()
                pg = pq.PGconn.connect(self.dsn.encode())
                pg.enter_pipeline_mode()
                continue
            for p, r in zip(chunk, results):
                self.check_binary(phase, p, -1, r)
        mem1 = self.backend_mem(pg.backend_pid)
        pg.exit_pipeline_mode()
        pg.finish()
        if mem0 and mem1:
            grow = mem1[0] - mem0[0]
            print('binary params: backend peak RSS %d kB -> %d kB, peak virtual %d kB -> %d kB'
                  % (mem0[0], mem1[0], mem0[1], mem1[1]))
            # the largest valid value is 64 kB; nothing should need 64 MB
            if grow > 65536 or mem1[1] - mem0[1] > 262144:
                self.res.fail(phase, 'backend memory grew',
                              'peak RSS %d -> %d kB, peak virtual %d -> %d kB'
                              % (mem0[0], mem1[0], mem0[1], mem1[1]))
        else:
            print('binary params: backend memory not readable from here; not checked')
        if slowest > 0.05:
            self.res.fail(phase, 'slow', 'a pipelined chunk took %.3f s per payload' % slowest)
        return len(payloads)

    def check_binary(self, phase, p, typmod, r):
        verdict, bits = model_binary(p, typmod)
        what = 'payload %s' % short(p.hex(), 120)
        if r is None:
            self.res.fail(phase, 'no result', what)
            return
        if r.status == pq.ExecStatus.FATAL_ERROR:
            state = (r.error_field(pq.DiagnosticField.SQLSTATE) or b'').decode()
            msg = (r.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b'').decode(errors='replace')
            if verdict != REJECT:
                self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
            else:
                check_sqlstate(self.res, phase, state, ('22', '54', '08'), '%s: %s %s' % (what, state, msg))
            return
        if r.status != pq.ExecStatus.TUPLES_OK:
            self.res.fail(phase, 'unexpected result status %s' % r.status, what)
            return
        if verdict == REJECT:
            self.res.fail(phase, 'invalid input accepted', what)
            return
        echo = r.get_value(0, 0)
        text = r.get_value(0, 1).decode()
        if echo != p:
            self.res.fail(phase, 'send(recv(x)) differs from x', '%s -> %s' % (what, short(echo.hex(), 120)))
            return
        elems = text.strip('[]').split(',')
        if [parse_f32(x) for x in elems] != bits:
            self.res.fail(phase, 'text output is not exact', '%s -> %s' % (what, short(text)))
            return
        self.res.accept(phase)

    # ---------------------------------------------------------- binary COPY
    COPY_HEAD = b'PGCOPY\n\xff\r\n\x00' + struct.pack('>ii', 0, 0)
    COPY_TAIL = struct.pack('>h', -1)

    def copy_tuple(self, id_, payload):
        return (struct.pack('>hi', 2, 4) + struct.pack('>i', id_)
                + struct.pack('>i', len(payload)) + payload)

    def array_payload(self, rng, elems, elem_oid):
        # vector(2)[] in binary: ndim, hasnull, element type, dims, elements
        out = struct.pack('>iiI', 1, 0, elem_oid) + struct.pack('>ii', len(elems), 1)
        for e in elems:
            out += struct.pack('>i', len(e)) + e
        return out

    def copy_one(self, table, data):
        t0 = time.time()
        try:
            with self.ensure_conn().cursor() as cur:
                with cur.copy('COPY %s (id, v) FROM STDIN (FORMAT BINARY)' % table) as cp:
                    cp.write(data)
            return '00000', None, time.time() - t0
        except psycopg.Error as e:
            if self.lost(e):
                self.conn = None
                return 'LOST', str(e).strip(), time.time() - t0
            return e.sqlstate, str(e).strip().split('\n')[0], time.time() - t0

    def phase_binary_copy(self, rng):
        phase = 'binary COPY'
        c = self.ensure_conn()
        vec_oid = c.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
        pid = c.execute('SELECT pg_backend_pid()').fetchone()[0]
        mem0 = self.backend_mem(pid)
        expect = {}      # (table, id) -> payload that must be stored
        count = 0
        slowest = 0.0
        payloads = self.binary_payloads(rng, self.n(2500))
        for i, p in enumerate(payloads):
            if rng.random() < 0.5:
                table, typmod = 'fuzz.bin3', 3
                if rng.random() < 0.5:
                    p = self.valid_payload(rng, rng.choice([3, 3, 3, 2, 4]))
                    if rng.random() < 0.3:
                        p = self.mutate_payload(rng, p)
            else:
                table, typmod = 'fuzz.bin', -1
            state, msg, dt = self.copy_one(table, self.COPY_HEAD + self.copy_tuple(i, p) + self.COPY_TAIL)
            slowest = max(slowest, dt)
            count += 1
            verdict, _ = model_binary(p, typmod)
            what = 'COPY into %s of payload %s' % (table, short(p.hex(), 120))
            if state == 'LOST':
                self.res.fail(phase, 'connection lost (server crash?)', '%s: %s' % (what, msg))
            elif state != '00000':
                if verdict != REJECT:
                    self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
                else:
                    check_sqlstate(self.res, phase, state, ('22', '54', '08'), '%s: %s %s' % (what, state, msg))
            elif verdict == REJECT:
                self.res.fail(phase, 'invalid input accepted', what)
            else:
                expect[(table, i)] = p
                self.res.accept(phase)

        # vector(2)[] columns: every element goes through vector_recv with typmod 2
        for i in range(self.n(300)):
            elems = []
            for _ in range(rng.randint(1, 4)):
                e = self.valid_payload(rng, 2)
                if rng.random() < 0.3:
                    e = self.mutate_payload(rng, e)
                elems.append(e)
            oid = vec_oid if rng.random() < 0.95 else 25
            p = self.array_payload(rng, elems, oid)
            state, msg, dt = self.copy_one('fuzz.binarr', self.COPY_HEAD + self.copy_tuple(i, p) + self.COPY_TAIL)
            count += 1
            # (array_recv does not insist on the element type OID it is sent)
            ok = all(model_binary(e, 2)[0] != REJECT for e in elems)
            what = 'COPY into vector(2)[] of elements %s' % short([e.hex() for e in elems], 200)
            if state == 'LOST':
                self.res.fail(phase, 'connection lost (server crash?)', '%s: %s' % (what, msg))
            elif state != '00000':
                if ok:
                    self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
                else:
                    check_sqlstate(self.res, phase, state, ('22', '54', '08', '42'), '%s: %s %s' % (what, state, msg))
            elif not ok:
                self.res.fail(phase, 'invalid input accepted', what)
            else:
                expect[('fuzz.binarr', i)] = elems
                self.res.accept(phase)

        # many valid rows in one COPY, read back in binary
        nbulk = self.n(5000)
        bulk = [self.valid_payload(rng) for _ in range(nbulk)]
        data = self.COPY_HEAD + b''.join(self.copy_tuple(100000 + k, p) for k, p in enumerate(bulk)) + self.COPY_TAIL
        state, msg, _ = self.copy_one('fuzz.bin', data)
        if state != '00000':
            self.res.fail(phase, 'bulk COPY of valid rows failed', '%s %s' % (state, msg))
        else:
            for k, p in enumerate(bulk):
                expect[('fuzz.bin', 100000 + k)] = p
                self.res.accept(phase)
        count += nbulk

        # huge field-length claims with a short body (COPY's own check)
        for claim in [0x3FFFFFFF, 0x7FFFFFFF, 0x20000000, 65539, -2]:
            data = self.COPY_HEAD + struct.pack('>hi', 2, 4) + struct.pack('>i', 1) + struct.pack('>i', claim) \
                + struct.pack('>HHf', 1, 0, 1.0) + self.COPY_TAIL
            state, msg, dt = self.copy_one('fuzz.bin', data)
            count += 1
            what = 'COPY field length claim %d over 8 bytes' % claim
            if state == 'LOST':
                self.res.fail(phase, 'connection lost (server crash?)', '%s: %s' % (what, msg))
            elif state == '00000':
                self.res.fail(phase, 'invalid input accepted', what)
            else:
                check_sqlstate(self.res, phase, state, ('22', '54', '08'), '%s: %s %s' % (what, state, msg))
            if dt > 5:
                self.res.fail(phase, 'slow error', '%s took %.1f s' % (what, dt))
        self.ensure_conn()

        # what was stored is what was sent
        for table in ('fuzz.bin', 'fuzz.bin3'):
            rows = self.ensure_conn().execute(
                'SELECT id, vector_send(v) FROM %s ORDER BY id' % table, binary=True).fetchall()
            got = {(table, i): bytes(b) for i, b in rows}
            want = {k: v for k, v in expect.items() if k[0] == table}
            if got != want:
                bad = [k for k in set(got) | set(want) if got.get(k) != want.get(k)]
                self.res.fail(phase, 'stored rows differ from the accepted payloads',
                              '%s: %d rows differ, e.g. %s' % (table, len(bad), short(bad[:5])))
        rows = self.ensure_conn().execute(
            'SELECT id, array_length(v, 1), (SELECT array_agg(vector_send(e)) FROM unnest(v) e) '
            'FROM fuzz.binarr ORDER BY id', binary=True).fetchall()
        got = {('fuzz.binarr', i): [bytes(e) for e in arr] for i, _, arr in rows}
        want = {k: v for k, v in expect.items() if k[0] == 'fuzz.binarr'}
        if got != want:
            self.res.fail(phase, 'stored arrays differ from the accepted payloads',
                          '%d stored, %d expected' % (len(got), len(want)))

        mem1 = self.backend_mem(pid) if self.conn and self.conn.info.backend_pid == pid else None
        if mem0 and mem1:
            print('binary COPY: backend peak RSS %d kB -> %d kB' % (mem0[0], mem1[0]))
            if mem1[0] - mem0[0] > 131072:
                self.res.fail(phase, 'backend memory grew', 'peak RSS %d -> %d kB' % (mem0[0], mem1[0]))
        if slowest > 2:
            self.res.fail(phase, 'slow', 'a one-row COPY took %.2f s' % slowest)
        return count

    # ---------------------------------------------------------- casts
    def gen_array(self, rng, kind):
        """(literal, verdict, bits): verdict 'ok' or REJECT, and the float32
        bits each element must become when the cast is accepted."""
        r = rng.random()
        if r < 0.04:
            return '{}', REJECT, None
        if r < 0.08:
            a = rng.randint(1, 3)
            b = rng.randint(1, 3)
            lit = '{' + ','.join('{' + ','.join(str(rng.randint(-9, 9)) for _ in range(b)) + '}'
                                 for _ in range(a)) + '}'
            return lit, REJECT, None
        if r < 0.085:
            n = rng.choice([MAX_DIM, MAX_DIM + 1, 20000])
            return '{' + ','.join(['1'] * n) + '}', (REJECT if n > MAX_DIM else 'ok'), [0x3F800000] * n
        n = rng.choice([1, 1, 2, 3, 5, 8, 16, rng.randint(1, 300)])
        elems, exp, verdict = [], [], 'ok'
        for _ in range(n):
            t = rng.random()
            if t < 0.04:
                elems.append('NULL')
                verdict = REJECT
                exp.append(None)
                continue
            if kind == 'int':
                v = rng.choice([rng.randint(-1000, 1000), rng.randint(-2 ** 31, 2 ** 31 - 1),
                                2 ** 31 - 1, -2 ** 31, 16777217, 0])
                elems.append(str(v))
                exp.append((round_f32(abs(v), 1) | (0x80000000 if v < 0 else 0)) if v else 0)
                continue
            if t < 0.1 and kind != 'int':
                s = rng.choice(['NaN', 'Infinity', '-Infinity', 'nan', 'inf'])
                elems.append(s)
                verdict = REJECT
                exp.append(None)
                continue
            if t < 0.16:
                s = rng.choice(['1e39', '-1e39', '3.4028236e38', '1e300', '-1e308', '1e-50',
                                '-1e-60', '1e-45', '3e-39', '1e-40', '0.000001', '3.4028235e38',
                                '340282356779733661637539395458142568447', '1' + '0' * 40])
            else:
                s = fmt_value(rng, rand_bits(rng))
                if 'x' in s.lower():
                    s = '%.9g' % f32_value(rand_bits(rng))
            elems.append(s)
            if kind == 'double':
                d = float(s)
                b = double_to_f32(d)
                if b is None:
                    verdict = REJECT
                exp.append(b)
            else:
                b = parse_f32(s)
                if kind == 'numeric' and b == 0x80000000:
                    b = 0              # numeric has no negative zero
                if b == 'range':
                    # real[] input or numeric_float4 refuses it
                    verdict = REJECT
                    b = None
                elif b & 0x7FFFFFFF == 0 and Decimal(s) != 0:
                    # underflow to zero: float4in refuses it
                    verdict = REJECT
                exp.append(b)
        lit = '{' + ','.join(elems) + '}'
        if rng.random() < 0.05 and n > 0:
            lit = '[%d:%d]=' % (5, 4 + n) + lit
        return lit, verdict, exp

    def phase_cast(self, rng):
        phase = 'cast'
        items = []
        for _ in range(self.n(8000)):
            kind = rng.choice(['int', 'real', 'double', 'numeric'])
            lit, verdict, exp = self.gen_array(rng, kind)
            ndim = exp and len(exp)
            typmod = -1
            if rng.random() < 0.15:
                typmod = rng.choice([ndim or 1, (ndim or 1) + 1, max(1, (ndim or 1) - 1), 3])
            items.append((lit, kind, typmod, verdict, exp))
        q = 'SELECT ord, state, msg, sendhex FROM fuzz.cast_in(%b, %b, %t::int[]) ORDER BY ord'
        batch, size = [], 0
        for it in items + [None]:
            if it is not None:
                batch.append(it)
                size += len(it[0])
            if batch and (it is None or len(batch) >= 500 or size > 1000000):
                rows = self.run_batch(phase, q, [[b[0] for b in batch], [b[1] for b in batch],
                                                 '{' + ','.join(str(b[2]) for b in batch) + '}'])
                if rows is not None:
                    for (lit, kind, typmod, verdict, exp), (_, state, msg, sendhex) in zip(batch, rows):
                        self.check_cast(phase, lit, kind, typmod, verdict, exp, state, msg, sendhex)
                batch, size = [], 0
        return len(items)

    def check_cast(self, phase, lit, kind, typmod, verdict, exp, state, msg, sendhex):
        what = '%s::%s[] -> vector%s' % (short(lit), kind, '(%d)' % typmod if typmod != -1 else '')
        if state.startswith('A'):
            # the array literal itself was refused by the element type
            if verdict == 'ok':
                self.res.fail(phase, 'generator: array literal refused', '%s: %s %s' % (what, state, msg))
            else:
                self.res.skipped['cast: array literal refused by array_in'] += 1
            return
        if verdict != REJECT and typmod != -1 and exp is not None and typmod != len(exp):
            verdict = REJECT
        if state != '00000':
            if verdict == 'ok':
                self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
            else:
                check_sqlstate(self.res, phase, state, ('22', '54'), '%s: %s %s' % (what, state, msg))
            return
        if verdict == REJECT:
            self.res.fail(phase, 'invalid input accepted', '%s -> %s' % (what, short(sendhex)))
            return
        dim, unused, got = decode_send(bytes.fromhex(sendhex))
        if got != exp:
            self.res.fail(phase, 'wrong value', '%s: expected %s, got %s'
                          % (what, short(['%08x' % b if b is not None else None for b in exp]),
                             short(['%08x' % b for b in got])))
            return
        self.res.accept(phase)

    # ---------------------------------------------------------- bit
    def phase_bit(self, rng):
        phase = 'bit'
        pairs = []
        for _ in range(self.n(10000)):
            la = rng.choice([0, 1, 7, 8, 9, 63, 64, 65, rng.randint(0, 100), rng.randint(0, 3000)])
            r = rng.random()
            if r < 0.7:
                lb = la
            elif r < 0.85:
                lb = max(0, la + rng.choice([-8, -1, 1, 8]))
            else:
                lb = rng.randint(0, 3000)
            density = rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
            a = ''.join('1' if rng.random() < density else '0' for _ in range(la))
            b = ''.join('1' if rng.random() < density else '0' for _ in range(lb))
            pairs.append((a, b, rng.random() < 0.3))
        q = 'SELECT ord, hstate, hval, jstate, jval FROM fuzz.bit_in(%b, %b, %b) ORDER BY ord'
        for k in range(0, len(pairs), 1000):
            batch = pairs[k:k + 1000]
            rows = self.run_batch(phase, q, [[p[0] for p in batch], [p[1] for p in batch],
                                             [p[2] for p in batch]])
            if rows is None:
                continue
            for (a, b, useop), (_, hs, hv, js, jv) in zip(batch, rows):
                what = "B'%s' vs B'%s'%s" % (short(a, 60), short(b, 60), ' (operators)' if useop else '')
                if len(a) != len(b):
                    for st in (hs, js):
                        if st == '00000':
                            self.res.fail(phase, 'different lengths accepted', what)
                        else:
                            check_sqlstate(self.res, phase, st, ('22',), what)
                    continue
                ia, ib = int(a or '0', 2), int(b or '0', 2)
                ham = bin(ia ^ ib).count('1')
                inter, uni = bin(ia & ib).count('1'), bin(ia | ib).count('1')
                jac = 1.0 if inter == 0 else 1.0 - inter / uni
                for st, val, want, name in ((hs, hv, float(ham), 'hamming'), (js, jv, jac, 'jaccard')):
                    if st != '00000':
                        self.res.fail(phase, 'valid %s input rejected' % name, '%s: %s' % (what, st))
                    elif float(val) != want:
                        self.res.fail(phase, 'wrong %s distance' % name, '%s: got %s, expected %r'
                                      % (what, val, want))
                    else:
                        self.res.accept(phase)
        return 2 * len(pairs)

    # ---------------------------------------------------------- aggregate state
    def phase_aggstate(self, rng):
        """vector_avg(double precision[]): the state is {count, sum_1, ..., sum_n}
        and anyone can call it with any array.  Model: NULL when n = 0 or the
        count is 0; an error for a malformed state, for n > 16000 and for an
        element that is not a finite float4; else sum_i / count rounded."""
        phase = 'aggstate'
        items = []
        specials = ['NaN', 'Infinity', '-Infinity', '1e300', '-1e300', '1e-300', '0', '-0']
        for _ in range(self.n(2000)):
            r = rng.random()
            if r < 0.03:
                lit = rng.choice(['{}', '{{1,2},{3,4}}', '{1,NULL}', '{NULL}', '[0:1]={1,2}'])
                items.append((lit, 'malformed'))
                continue
            if r < 0.08:
                n = rng.choice([MAX_DIM, MAX_DIM + 1, 32767, 32768, 40001, 65535, 65536, 65537, 70001])
                items.append(('{1,' + ','.join(['1'] * n) + '}', ['1'] + ['1'] * n))
                continue
            n = rng.choice([0, 1, 2, 3, rng.randint(1, 50)])
            count = rng.choice(['1', '2', '3', '0', '-1', '0.5', '7', '1e-40', '1e40',
                                rng.choice(specials), repr(rng.uniform(-10, 10))])
            vals = [rng.choice(specials) if rng.random() < 0.05 else repr(rng.uniform(-1e3, 1e3))
                    for _ in range(n)]
            items.append(('{' + ','.join([count] + vals) + '}', [count] + vals))
        q = 'SELECT ord, state, msg, gotnull, sendhex FROM fuzz.avg_in(%b) ORDER BY ord'
        batch, size = [], 0
        for it in items + [None]:
            if it is not None:
                batch.append(it)
                size += len(it[0])
            if batch and (it is None or len(batch) >= 200 or size > 1000000):
                rows = self.run_batch(phase, q, [[b[0] for b in batch]])
                if rows is not None:
                    for (lit, model), (_, state, msg, isnull, sendhex) in zip(batch, rows):
                        self.check_avg(phase, lit, model, state, msg, isnull, sendhex)
                batch, size = [], 0
        return len(items)

    def check_avg(self, phase, lit, model, state, msg, isnull, sendhex):
        what = 'vector_avg(%s)' % (short(lit, 120) if len(lit) < 200 else
                                   "'{1,1,...}' with %d sums" % (lit.count(',')))
        expect = 'error'
        if model != 'malformed':
            nums = [float(x) for x in model]
            count, sums = nums[0], nums[1:]
            if not sums or count == 0:
                expect = 'null'
            elif len(sums) <= MAX_DIM:
                bits = []
                for x in sums:
                    try:
                        b = double_to_f32(x / count)
                    except ZeroDivisionError:
                        b = None
                    if b is None or not f32_finite(b) or math.isnan(x / count if count else float('nan')):
                        bits = None
                        break
                    bits.append(b)
                if bits is not None:
                    expect = bits
        if state != '00000':
            if expect != 'error':
                self.res.fail(phase, 'valid state rejected', '%s: %s %s' % (what, state, msg))
            elif model == 'malformed' or len(model) > MAX_DIM + 1:
                # no state at all: pgvector's internal error, word for word
                if state != 'XX000' or msg != 'vector_avg: expected state array':
                    self.res.fail(phase, 'expected XX000 vector_avg: expected state array',
                                  '%s: %s %s' % (what, state, msg))
                else:
                    self.res.reject(phase, state)
            else:
                check_sqlstate(self.res, phase, state, ('22', '54'), '%s: %s %s' % (what, state, msg))
        elif expect == 'error':
            self.res.fail(phase, 'invalid state accepted',
                          '%s -> %s' % (what, 'NULL' if isnull else 'a vector whose dim field is %d'
                                        % struct.unpack('>h', bytes.fromhex(sendhex[:4]))[0]))
        elif expect == 'null':
            if not isnull:
                self.res.fail(phase, 'expected NULL', what)
            else:
                self.res.accept(phase)
        elif isnull or decode_send(bytes.fromhex(sendhex))[2] != expect:
            self.res.fail(phase, 'wrong value', what)
        else:
            self.res.accept(phase)

    # ---------------------------------------------------------- sparsevec
    def sparse_dim(self, rng):
        r = rng.random()
        if r < 0.5:
            return rng.randint(1, 10)
        if r < 0.8:
            return rng.randint(1, 100000)
        if r < 0.95:
            return rng.randint(1, SP_MAX_DIM)
        return rng.choice([SP_MAX_DIM, SP_MAX_DIM + 1, 0, -1, 2 ** 31 - 1, 2 ** 31, 10 ** 20])

    def sparse_elems(self, rng, dim):
        k = rng.randint(0, max(0, min(dim, 12)))
        idx = set()
        while len(idx) < k:
            idx.add(rng.randint(1, dim))
        return [(x, rand_bits(rng)) for x in idx]

    def valid_sparse_text(self, rng):
        dim = self.sparse_dim(rng)
        elems = self.sparse_elems(rng, max(dim, 1))
        if rng.random() < 0.6:
            elems.sort()
        parts = [rand_ws(rng) + str(x) + rand_ws(rng) + ':' + rand_ws(rng) + fmt_value(rng, b) + rand_ws(rng)
                 for x, b in elems]
        return (rand_ws(rng) + '{' + ','.join(parts) + '}' + rand_ws(rng) + '/' + rand_ws(rng)
                + str(dim) + rand_ws(rng))

    def sparse_payload(self, rng):
        dim = self.sparse_dim(rng)
        dim = max(1, min(dim, 2 ** 31 - 1))
        elems = sorted((x - 1, b) for x, b in self.sparse_elems(rng, dim) if b & 0x7FFFFFFF)
        p = struct.pack('>iii', dim, len(elems), 0)
        p += b''.join(struct.pack('>i', x) for x, _ in elems)
        p += b''.join(struct.pack('>I', b) for _, b in elems)
        r = rng.random()
        if r < 0.4:
            return p
        p = bytearray(p)
        op = rng.randrange(8)
        if op == 0 and len(p) > 12:          # swap two indices or values
            a, b = rng.randrange(3, len(p) // 4), rng.randrange(3, len(p) // 4)
            p[4 * a:4 * a + 4], p[4 * b:4 * b + 4] = p[4 * b:4 * b + 4], p[4 * a:4 * a + 4]
        elif op == 1:                         # a header field
            f = rng.randrange(3)
            p[4 * f:4 * f + 4] = struct.pack('>i', rng.choice([0, -1, 1, 2, 16000, 16001, SP_MAX_DIM,
                                                                SP_MAX_DIM + 1, 2 ** 31 - 1, -2 ** 31,
                                                                rng.randint(-2 ** 31, 2 ** 31 - 1)]))
        elif op == 2:                         # truncate or extend
            p = p[:rng.randint(0, len(p))] if rng.random() < 0.5 else p + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 9)))
        elif op == 3 and len(p) > 12:         # a word: zero, -0, NaN, inf, random, a dup index
            a = rng.randrange(3, len(p) // 4)
            p[4 * a:4 * a + 4] = struct.pack('>I', rng.choice([0, 0x80000000, 0x7FC00000, 0x7F800000,
                                                               0xFF800000, rng.getrandbits(32)]))
        elif op == 4 and len(p) > 12:         # flip a bit
            a = rng.randrange(len(p))
            p[a] ^= 1 << rng.randrange(8)
        elif op == 5:                         # random bytes
            p = bytearray(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
        elif op == 6 and len(p) >= 20:        # copy the previous index (a duplicate)
            nnz = struct.unpack('>i', p[4:8])[0]
            if 2 <= nnz <= (len(p) - 12) // 8:
                k = rng.randint(1, nnz - 1)
                p[12 + 4 * k:16 + 4 * k] = p[8 + 4 * k:12 + 4 * k]
        else:                                 # claim more elements than there are
            p[4:8] = struct.pack('>i', struct.unpack('>i', p[4:8])[0] + rng.randint(1, 3))
        return bytes(p)

    def phase_sparsevec(self, rng):
        phase = 'sparsevec'
        texts = ['', '{}', '{}/', '{}/1', '{}/0', '{1:1}/1', '{0:1}/1', '{2:1}/1', '{1:1,1:0}/2',
                 '{1:1}/1000000000', '{1:1}/1000000001', '{1000000000:1}/1000000000',
                 '{2147483648:1}/3', '{-1:1}/3', '{1:nan}/3', '{1:inf}/3', '{1:1e39}/3', '{1:0x1p-149}/2',
                 '{1:-0}/1', '{ 1 : 2 , 3 : 4 } / 5', '{1:1}/3 x', '{1:1,}/3', '{,}/3', '{:}/3',
                 '{' + ','.join('%d:1' % i for i in range(1, SP_MAX_NNZ + 1)) + '}/20000',
                 '{' + ','.join('%d:1' % i for i in range(1, SP_MAX_NNZ + 2)) + '}/20000',
                 '{' + ','.join('%d:%d' % (i, i % 2) for i in range(1, 2 * SP_MAX_NNZ + 3)) + '}/40000']
        for _ in range(self.n(8000)):
            texts.append(self.valid_sparse_text(rng))
        for _ in range(self.n(12000)):
            texts.append(mutate(rng, self.valid_sparse_text(rng)).replace('\x00', ''))
        q = 'SELECT ord, state, msg, outtext, sendhex, rt FROM fuzz.sparse_in(%b) ORDER BY ord'
        for k in range(0, len(texts), 1000):
            batch = texts[k:k + 1000]
            rows = self.run_batch(phase, q, [batch])
            if rows is None:
                continue
            for s, row in zip(batch, rows):
                self.check_sparse_text(phase, s, row)

        c = self.ensure_conn()
        oid = c.execute("SELECT 'sparsevec'::regtype::oid").fetchone()[0]
        payloads = [self.sparse_payload(rng) for _ in range(self.n(8000))]
        pg = pq.PGconn.connect(self.dsn.encode())
        pg.enter_pipeline_mode()
        qb = b'SELECT $1::sparsevec, ($1::sparsevec)::text'
        for k in range(0, len(payloads), 500):
            chunk = payloads[k:k + 500]
            for p in chunk:
                pg.send_query_params(qb, [p], [oid], [1], result_format=1)
                pg.pipeline_sync()
            results, cur, synced = [], None, 0
            while synced < len(chunk):
                r = pg.get_result()
                if r is None:
                    if pg.status != pq.ConnStatus.OK:
                        break
                    continue
                if r.status == pq.ExecStatus.PIPELINE_SYNC:
                    results.append(cur)
                    cur = None
                    synced += 1
                else:
                    cur = r
            if synced < len(chunk):
                self.res.fail(phase, 'connection lost (server crash?)',
                              'binary chunk at payload %d: %s' % (k, pg.error_message.decode(errors='replace')))
                self.res.total += len(chunk) - 1
                pg.finish()
                pg = pq.PGconn.connect(self.dsn.encode())
                pg.enter_pipeline_mode()
                continue
            for p, r in zip(chunk, results):
                self.check_sparse_binary(phase, p, r)
        pg.exit_pipeline_mode()
        pg.finish()
        return len(texts) + len(payloads)

    def check_sparse_text(self, phase, s, row):
        _, state, msg, outtext, sendhex, rt = row
        loose = set()
        verdict, model = model_sparse_text(s, loose)
        what = 'input %r' % short(s)
        if state != '00000':
            if verdict != REJECT:
                self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
            else:
                check_sqlstate(self.res, phase, state, ('22', '54'), '%s: %s %s' % (what, state, msg))
            return
        if verdict == REJECT:
            self.res.fail(phase, 'invalid input accepted', '%s -> %s' % (what, short(outtext)))
            return
        dim, unused, got = decode_sparse_send(bytes.fromhex(sendhex))
        mdim, melems = model
        same = (dim == mdim and unused == 0 and len(got) == len(melems) and
                all(g[0] == m[0] and (g[1] == m[1] or m[0] in loose) for g, m in zip(got, melems)))
        if not same:
            self.res.fail(phase, 'wrong value', '%s -> %s' % (what, short(outtext)))
        elif rt != 'same':
            self.res.fail(phase, 'output does not read back', '%s -> %s: %s' % (what, short(outtext), rt))
        elif model_sparse_text(outtext)[1] != (dim, got):
            self.res.fail(phase, 'output text is not exact', '%s -> %s' % (what, short(outtext)))
        else:
            self.res.accept(phase)

    def check_sparse_binary(self, phase, p, r):
        verdict, model = model_sparse_binary(p)
        what = 'payload %s' % short(p.hex(), 120)
        if r is None:
            self.res.fail(phase, 'no result', what)
            return
        if r.status == pq.ExecStatus.FATAL_ERROR:
            state = (r.error_field(pq.DiagnosticField.SQLSTATE) or b'').decode()
            msg = (r.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b'').decode(errors='replace')
            if verdict != REJECT:
                self.res.fail(phase, 'valid input rejected', '%s: %s %s' % (what, state, msg))
            else:
                check_sqlstate(self.res, phase, state, ('22', '54', '08'), '%s: %s %s' % (what, state, msg))
            return
        if r.status != pq.ExecStatus.TUPLES_OK:
            self.res.fail(phase, 'unexpected result status %s' % r.status, what)
        elif verdict == REJECT:
            self.res.fail(phase, 'invalid input accepted', what)
        elif r.get_value(0, 0) != p:
            self.res.fail(phase, 'send(recv(x)) differs from x', what)
        else:
            verdict2, model2 = model_sparse_text(r.get_value(0, 1).decode())
            if verdict2 == REJECT or model2 != model:
                self.res.fail(phase, 'text output does not read back', '%s -> %s' % (what, short(r.get_value(0, 1).decode())))
            else:
                self.res.accept(phase)

    # ---------------------------------------------------------- main
    def run(self):
        print('fuzz_input: seed %d (set FUZZ_SEED to repeat or change it), scale %g' % (self.seed, self.scale))
        self.ensure_conn().execute(SETUP)
        phases = [('text', self.phase_text), ('typmod', self.phase_typmod),
                  ('binary', self.phase_binary_params), ('binary COPY', self.phase_binary_copy),
                  ('cast', self.phase_cast), ('bit', self.phase_bit),
                  ('aggstate', self.phase_aggstate), ('sparsevec', self.phase_sparsevec)]
        t_all = time.time()
        for k, (name, fn) in enumerate(phases):
            rng = random.Random(self.seed * 100 + k)
            t0 = time.time()
            n = fn(rng)
            print('phase %-12s %7d inputs in %6.1f s' % (name, n, time.time() - t0))
            sys.stdout.flush()
        el = time.time() - t_all
        res = self.res
        print('inputs: %d in %.1f s' % (res.total, el))
        print('accepted: %d (%s)' % (sum(res.accepted.values()),
                                     ', '.join('%s %d' % kv for kv in sorted(res.accepted.items()))))
        print('rejected: %d' % sum(res.rejected.values()))
        for st, c in sorted(res.rejected.items()):
            print('  rejected %s: %d' % (st, c))
        for ph, cnt in sorted(res.phase_rejected.items()):
            print('  %s: %s' % (ph, ', '.join('%s %d' % kv for kv in sorted(cnt.items()))))
        for k, c in sorted(res.skipped.items()):
            print('not counted (%s): %d' % (k, c))
        print('failures: %d' % res.nfail())
        for k, c in sorted(res.failures.items()):
            print('FAIL %s: %d' % (k, c))
            for ex in res.examples[k]:
                print('    e.g. %s' % ex)
        if self.conn is not None:
            self.conn.execute('DROP SCHEMA fuzz CASCADE')
            self.conn.close()
        return 0 if res.nfail() == 0 else 1


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    seed = int(os.environ.get('FUZZ_SEED', '7040'))
    scale = float(os.environ.get('FUZZ_SCALE', '1'))
    return Fuzzer(sys.argv[1], seed, scale).run()


if __name__ == '__main__':
    sys.exit(main())
