-- sparsevec text and binary I/O, typmod, and every malformed input: each
-- must be a clean ERROR with the right SQLSTATE (try_cast and recv show
-- both).  Text: {index:value,...}/dim with 1-based indices in any order
-- (stored sorted), zeros dropped; the output lists the stored elements in
-- index order, each value the shortest text that reads back to its float.

-- round trips
SELECT '{1:1.5,3:2}/5'::sparsevec;
SELECT '{3:2,1:1.5}/5'::sparsevec;
SELECT '  { 1 : 1.5 , 3 :2 } / 5  '::sparsevec;
SELECT '{1:0,2:3,4:-0,5:0.0}/5'::sparsevec;
SELECT '{}/1'::sparsevec, '{ }/3'::sparsevec, '{1:0}/2'::sparsevec;
SELECT '{1:0.1,2:-3e-38,3:3.4028235e38,4:1e-45}/4'::sparsevec;
SELECT '{+2:1,1:+2}/2'::sparsevec;
SELECT '{1000000000:1}/1000000000'::sparsevec;
SELECT '{1:1.5,3:2}/5'::sparsevec::text::sparsevec = '{1:1.5,3:2}/5'::sparsevec;
-- the output reads back to the same floats
SELECT count(*) FROM (
  SELECT v, v::text::sparsevec AS w FROM (
    SELECT ('{' || (i % 7 + 1) || ':' || (random() * 1e4 - 5e3)::real || ',9:' || (random() * 1e-30)::real || '}/9')::sparsevec AS v
    FROM generate_series(1, 1000) i) s) t
WHERE v <> w OR v::text <> w::text OR sparsevec_send(v) <> sparsevec_send(w);
-- the same values as vector
SELECT count(*) FROM (SELECT ARRAY[sin(i), 0, cos(i) * 1e-20, 0, i]::real[] AS a FROM generate_series(1, 200) i) t
WHERE a::sparsevec::vector <> a::vector OR a::vector::sparsevec <> a::sparsevec;

-- malformed text
CREATE FUNCTION try_cast(input text, typ text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT %L::%s', input, typ);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT input, try_cast(input, 'sparsevec') FROM (VALUES
  (''),
  ('{'),
  ('{}'),
  ('{}/'),
  ('{}/0'),
  ('{}/-1'),
  ('{}/1000000001'),
  ('{}/99999999999999999999'),
  ('{}/1.5'),
  ('{}/x'),
  ('{}/3x'),
  ('{}/ 3 4'),
  ('[1,2]'),
  ('{1:1,}/3'),
  ('{,1:1}/3'),
  ('{1:1,,2:1}/3'),
  ('{1:}/3'),
  ('{:1}/3'),
  ('{1}/3'),
  ('{1:1 2:1}/3'),
  ('{1::1}/3'),
  ('{a:1}/3'),
  ('{1:a}/3'),
  ('{1.5:1}/3'),
  ('{0x1:1}/3'),
  ('{1:1}3'),
  ('{1:1}//3'),
  ('{1:1/3'),
  ('1:1}/3'),
  ('{{1:1}}/3'),
  ('x{1:1}/3'),
  ('{0:1}/3'),
  ('{4:1}/3'),
  ('{-1:1}/3'),
  ('{99999999999999999999:1}/3'),
  ('{2147483648:1}/3'),
  ('{1:1,1:2}/3'),
  ('{2:1,1:1,2:0}/3'),
  ('{4:0}/3'),
  ('{1:1e39}/3'),
  ('{1:-1e39}/3'),
  ('{1:NaN}/3'),
  ('{1:inf}/3'),
  ('{1:-Infinity}/3')) t(input);
-- 16000 non-zeros are the most; zeros beyond them are dropped, not counted
SELECT ('{' || string_agg(i || ':1', ',') || '}/20000')::sparsevec IS NOT NULL AS max_nnz_ok
FROM generate_series(1, 16000) i;
SELECT ('{' || string_agg(i || ':' || (i % 2), ',') || '}/40000')::sparsevec IS NOT NULL AS zeros_ok
FROM generate_series(1, 32000) i;
SELECT try_cast('{' || string_agg(i || ':1', ',') || '}/20000', 'sparsevec')
FROM generate_series(1, 16001) i;

-- typmod
SELECT '{1:1}/3'::sparsevec(3);
SELECT try_cast('{1:1}/2', 'sparsevec(3)');
SELECT try_cast('{1:1}/3', 'sparsevec(0)');
SELECT try_cast('{1:1}/3', 'sparsevec(1000000001)');
SELECT try_cast('{1:1}/3', 'sparsevec(3, 2)');
SELECT '{1:1}/1000000000'::sparsevec(1000000000);
CREATE TABLE typmod_t (v sparsevec(3));
INSERT INTO typmod_t VALUES ('{1:1,3:3}/3');
INSERT INTO typmod_t VALUES ('{1:1}/2');
INSERT INTO typmod_t VALUES ('{1:1}/4'::sparsevec);
SELECT * FROM typmod_t;
\d typmod_t
DROP TABLE typmod_t;
SELECT pg_typeof('{}/1'::sparsevec), format_type('sparsevec'::regtype, 5),
       (SELECT typname FROM pg_type WHERE typelem = 'sparsevec'::regtype);
SELECT '{"{1:1}/2","{}/3"}'::sparsevec[];

-- binary format: int32 dim, int32 nnz, int32 0, 0-based int32 indices, float4 values
SELECT sparsevec_send('{1:1.5,3:2}/5'::sparsevec);
SELECT sparsevec_send('{}/7'::sparsevec);

-- binary input through COPY (FORMAT binary), the path drivers use
CREATE TABLE recv_any (v sparsevec);
CREATE TABLE recv_3 (v sparsevec(3));
CREATE FUNCTION recv(payload bytea, tab text DEFAULT 'recv_any') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo oid;
  result text;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
        || '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
  PERFORM lo_export(lo, 'sparsevec_recv_test.copy');
  PERFORM lo_unlink(lo);
  EXECUTE format('DELETE FROM %I', tab);
  EXECUTE format('COPY %I FROM %L (FORMAT binary)', tab, 'sparsevec_recv_test.copy');
  EXECUTE format('SELECT v::text FROM %I', tab) INTO result;
  RETURN result;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT label, recv(payload) FROM (VALUES
  ('ok', '\x00000005 00000002 00000000 00000000 00000002 3fc00000 40000000'::bytea),
  ('send output', sparsevec_send('{2:-1,1000:3e-7}/1000')),
  ('empty vector', '\x00000007 00000000 00000000'),
  ('max dim', '\x3b9aca00 00000001 00000000 3b9ac9ff 3f800000'),
  ('short payload', '\x00000005 00000002 00000000 00000000 00000002 3fc00000'),
  ('long payload', '\x00000005 00000001 00000000 00000000 00000002 3fc00000 40000000'),
  ('truncated header', '\x00000005 00000002'),
  ('empty', ''),
  ('zero dims', '\x00000000 00000000 00000000'),
  ('negative dims', '\xffffffff 00000000 00000000'),
  ('too many dims', '\x3b9aca01 00000000 00000000'),
  ('negative nnz', '\x00000005 ffffffff 00000000'),
  ('nnz above dim', '\x00000001 00000002 00000000 00000000 00000001 3f800000 40000000'),
  ('16001 nnz', '\x00004e20 00003e81 00000000'),
  ('16001 nnz with data', '\x00004e20 00003e81 00000000' || decode((SELECT string_agg(lpad(to_hex(i), 8, '0'), '') FROM generate_series(0, 16000) i), 'hex') || decode(repeat('3f800000', 16001), 'hex')),
  ('unused not zero', '\x00000005 00000001 00000001 00000000 3f800000'),
  ('index -1', '\x00000005 00000001 00000000 ffffffff 3f800000'),
  ('most negative index', '\x00000005 00000001 00000000 80000000 3f800000'),
  ('index = dim', '\x00000005 00000001 00000000 00000005 3f800000'),
  ('index above dim', '\x00000005 00000001 00000000 7fffffff 3f800000'),
  ('descending', '\x00000005 00000002 00000000 00000003 00000001 3f800000 40000000'),
  ('duplicate', '\x00000005 00000002 00000000 00000001 00000001 3f800000 40000000'),
  ('zero value', '\x00000005 00000002 00000000 00000000 00000001 00000000 3f800000'),
  ('negative zero', '\x00000005 00000001 00000000 00000000 80000000'),
  ('NaN', '\x00000005 00000001 00000000 00000000 7fc00000'),
  ('infinity', '\x00000005 00000001 00000000 00000000 7f800000'),
  ('-infinity', '\x00000005 00000001 00000000 00000000 ff800000')) t(label, payload);
-- the most non-zeros
SELECT left(recv('\x00004e20 00003e80 00000000' || decode((SELECT string_agg(lpad(to_hex(i), 8, '0'), '') FROM generate_series(0, 15999) i), 'hex') || decode(repeat('3f800000', 16000), 'hex')), 30) AS max_nnz;
SELECT recv('\x00000003 00000001 00000000 00000002 40400000', 'recv_3') AS typmod_ok,
       recv('\x00000002 00000001 00000000 00000001 40400000', 'recv_3') AS typmod_mismatch;
DROP TABLE recv_any, recv_3;
DROP FUNCTION recv(bytea, text);
DROP FUNCTION try_cast(text, text);

-- every C whitespace character between tokens, vertical tab included
SELECT (chr(11) || '{' || E'\t1\n:\f2\r ,' || chr(11) || '3:3' || chr(11) || '}' || chr(11) || '/' || E'\t3' || chr(11))::sparsevec;

-- pgvector's messages, DETAIL included, with the type's own name (issue 14)
SELECT '1:1}/2'::sparsevec;
SELECT '{1:1}/2 3'::sparsevec;
SELECT '{1:1}'::sparsevec;
SELECT '{1:1} 2'::sparsevec;
SELECT '{1:1'::sparsevec;
SELECT '{'::sparsevec;
SELECT '{1:1}/2'::sparsevec <-> '{1:1}/3'::sparsevec;
SELECT '{}/0'::sparsevec;
-- a value that underflows to 0 is an error, not a dropped element; a
-- denormal is kept, and a written 0 is dropped as before
SELECT '{1:1e-46,2:1}/2'::sparsevec;
SELECT '{1:-1e-46}/2'::sparsevec;
SELECT '{1:1e-40,2:0}/2'::sparsevec;
SELECT '{4e38,-4e38}'::double precision[]::sparsevec;
SELECT '{4e38,-4e38}'::numeric[]::sparsevec;
SELECT '{Infinity}'::real[]::sparsevec;
