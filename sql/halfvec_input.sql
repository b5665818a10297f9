-- halfvec text and binary I/O, typmod, and every malformed input: each must
-- be a clean ERROR with the right SQLSTATE (try_cast and recv show both).
-- Values are rounded to the nearest half (ties to even); the output is the
-- shortest text that reads back to the half's value.

-- round trips
SELECT '[1,2,3]'::halfvec;
SELECT '[-1.5, 2.25 ,3e2]'::halfvec;
SELECT '  [ 1 , 2 ]  '::halfvec;
SELECT '[0.1,0.2,0.3]'::halfvec;
SELECT '[-0]'::halfvec;
-- the largest finite half, and what rounds to it; 65520 rounds up to infinity
SELECT '[65504,-65504,65519.99]'::halfvec;
-- the smallest normal and subnormal halves; 2^-25 is a tie and rounds to zero (even),
-- a little more rounds up to the smallest subnormal
SELECT '[6.1035156e-05,5.9604645e-08,2.9802322e-08,2.9802326e-08,1e-10]'::halfvec;
-- ties to even: 2049 and 2051 lie halfway between representable halves
SELECT '[2049,2051,2050,1.00048828125]'::halfvec;
SELECT '[1,2,3]'::halfvec::text::halfvec = '[1,2,3]'::halfvec;
-- the output reads back to the same half: every half, through text
SELECT count(*) FROM (
  SELECT v, v::text::halfvec AS w FROM (
    SELECT ARRAY[random() * 1e4 - 5e3, random() * 1e-3, random() * 1e-6]::real[]::halfvec AS v
    FROM generate_series(1, 1000)) s) t
WHERE v <> w OR v::text <> w::text;

-- every finite half, made from its exact value: it is stored with the
-- expected bits, and its text reads back to the same half
SELECT count(*) AS halves, count(*) FILTER (WHERE substring(halfvec_send(v) FROM 5) <> substring(int4send(CASE WHEN s = 1 THEN h ELSE h + 32768 END) FROM 3 FOR 2)) AS wrong_bits,
       count(*) FILTER (WHERE v::text::halfvec::text <> v::text OR v::text::halfvec <> v) AS no_round_trip
FROM (SELECT h, s, ARRAY[(CASE WHEN s = 1 THEN 1 ELSE -1 END) *
        (CASE WHEN h < 1024 THEN h * 2.0 ^ -24 ELSE (1024 + h % 1024) * 2.0 ^ ((h / 1024) - 25) END)]::float8[]::halfvec AS v
      FROM generate_series(0, 31743) h, (VALUES (1), (-1)) sg(s)) t
WHERE s = 1 OR h > 0;

-- malformed text
CREATE FUNCTION try_cast(input text, typ text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT %L::%s', input, typ);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT input, try_cast(input, 'halfvec') FROM (VALUES
  (''),
  ('['),
  ('[]'),
  ('[ ]'),
  ('[1,,2]'),
  ('[1,2'),
  ('[1,2,]'),
  ('[,1]'),
  ('abc'),
  ('1,2,3'),
  ('[1 2]'),
  ('[1,2]x'),
  ('x[1,2]'),
  ('[1,2]]'),
  ('[[1,2]]'),
  ('[1,a]'),
  ('[65504]'),
  ('[65520]'),
  ('[-65520]'),
  ('[1, 70000 ,3]'),
  ('[1e10]'),
  ('[1e39]'),
  ('[-1e39]'),
  ('[NaN]'),
  ('[1,nan]'),
  ('[inf]'),
  ('[-Infinity]')) t(input);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::halfvec IS NOT NULL AS max_dims_ok;
SELECT try_cast('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']', 'halfvec');

-- typmod
SELECT '[1,2,3]'::halfvec(3);
SELECT try_cast('[1,2]', 'halfvec(3)');
SELECT try_cast('[1,2,3]', 'halfvec(0)');
SELECT try_cast('[1,2,3]', 'halfvec(16001)');
SELECT try_cast('[1,2,3]', 'halfvec(3, 2)');
CREATE TABLE typmod_t (v halfvec(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3,4]'::halfvec);
SELECT * FROM typmod_t;
\d typmod_t
DROP TABLE typmod_t;
SELECT pg_typeof('[1]'::halfvec), format_type('halfvec'::regtype, 5),
       (SELECT typname FROM pg_type WHERE typelem = 'halfvec'::regtype);
SELECT '{"[1,2]","[3,4.5]"}'::halfvec[];

-- binary format: uint16 dim, uint16 0, big-endian half bit patterns
SELECT halfvec_send('[1,2,3]'::halfvec);
SELECT halfvec_send('[-0.5,65504,5.9604645e-08]'::halfvec);

-- binary input through COPY (FORMAT binary), the path drivers use
CREATE TABLE recv_any (v halfvec);
CREATE TABLE recv_3 (v halfvec(3));
CREATE FUNCTION recv(payload bytea, tab text DEFAULT 'recv_any') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo oid;
  result text;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
        || '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
  PERFORM lo_export(lo, 'halfvec_recv_test.copy');
  PERFORM lo_unlink(lo);
  EXECUTE format('DELETE FROM %I', tab);
  EXECUTE format('COPY %I FROM %L (FORMAT binary)', tab, 'halfvec_recv_test.copy');
  EXECUTE format('SELECT v::text FROM %I', tab) INTO result;
  RETURN result;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT label, recv(payload) FROM (VALUES
  ('ok', '\x000300003c0040004200'::bytea),
  ('send output', halfvec_send('[1.5,-2,3e-7]')),
  ('subnormal and max', '\x00030000000103ff7bff'::bytea),
  ('negative zero', '\x000100008000'::bytea),
  ('short payload', '\x000300003c004000'),
  ('long payload', '\x000100003c004000'),
  ('odd byte', '\x000100003c'),
  ('truncated header', '\x0003'),
  ('empty', ''),
  ('zero dims', '\x00000000'),
  ('16001 dims', '\x3e810000' || decode(repeat('3c00', 16001), 'hex')),
  ('65535 dims claimed', '\xffff00003c00'),
  ('unused not zero', '\x000100013c00'),
  ('NaN', '\x000100007e00'),
  ('signalling NaN', '\x000100007c01'),
  ('infinity', '\x000100007c00'),
  ('-infinity', '\x00010000fc00')) t(label, payload);
SELECT recv('\x000300003c0040004200', 'recv_3') AS typmod_ok,
       recv('\x000200003c004000', 'recv_3') AS typmod_mismatch;
DROP TABLE recv_any, recv_3;
DROP FUNCTION recv(bytea, text);
DROP FUNCTION try_cast(text, text);

-- every C whitespace character around elements, vertical tab included
SELECT (chr(11) || '[' || E'\t1 ,\f2\r\n,' || chr(11) || '3' || chr(11) || ']' || chr(11))::halfvec;

-- pgvector's messages, DETAIL included, with the type's own name (issue 14)
SELECT '1,2,3'::halfvec;
SELECT '[1,2,3]9'::halfvec;
SELECT '[1,2,3'::halfvec;
SELECT '['::halfvec;
SELECT '[]'::halfvec;
SELECT array_fill(1, ARRAY[16001])::halfvec;
SELECT '[1,2]'::halfvec + '[1]'::halfvec;
SELECT '{4e38,-4e38}'::double precision[]::halfvec;
SELECT '{4e38,-4e38}'::numeric[]::halfvec;
SELECT '{Infinity}'::real[]::halfvec;
-- finite as float4 but beyond the half range: still out of range
SELECT '{1e5}'::double precision[]::halfvec;
