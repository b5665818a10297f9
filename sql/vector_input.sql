-- vector text and binary I/O, typmod, and every malformed input: each must
-- be a clean ERROR with the right SQLSTATE (try_cast and recv show both).

-- round trips
SELECT '[1,2,3]'::vector;
SELECT '[-1.5, 2.25 ,3e2]'::vector;
SELECT '  [ 1 , 2 ]  '::vector;
SELECT '[1.17549435e-38,3.40282347e+38,-3.40282347e+38]'::vector;
SELECT '[0.1,0.2,0.30000001]'::vector;
SELECT '[1e-45]'::vector;
SELECT '[-0]'::vector;
SELECT '[1,2,3]'::vector::text::vector = '[1,2,3]'::vector;
-- shortest round-trip output: every float reads back to itself
SELECT count(*) FROM (
  SELECT v, v::text::vector AS w FROM (
    SELECT ARRAY[random() * 1e6 - 5e5, random() * 1e-3, random()]::real[]::vector AS v
    FROM generate_series(1, 1000)) s) t
WHERE v <> w;

-- malformed text: each input is either accepted or a clean error; show
-- the SQLSTATE and message of each
CREATE FUNCTION try_cast(input text, typ text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT %L::%s', input, typ);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT input, try_cast(input, 'vector') FROM (VALUES
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
  ('[1e39]'),
  ('[-1e39]'),
  ('[NaN]'),
  ('[1,nan]'),
  ('[inf]'),
  ('[-Infinity]')) t(input);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::vector IS NOT NULL AS max_dims_ok;
SELECT try_cast('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']', 'vector');
SELECT try_cast('[' || repeat('1,', 100000) || '1]', 'vector');

-- typmod
SELECT '[1,2,3]'::vector(3);
SELECT try_cast('[1,2]', 'vector(3)');
SELECT try_cast('[1,2,3]', 'vector(0)');
SELECT try_cast('[1,2,3]', 'vector(16001)');
SELECT try_cast('[1,2,3]', 'vector(3, 2)');
CREATE TABLE typmod_t (v vector(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3,4]'::vector);
SELECT * FROM typmod_t;
\d typmod_t
DROP TABLE typmod_t;

-- binary format: uint16 dim, uint16 0, big-endian float4s (recv is tested
-- with real binary parameters and COPY in the TAP and client tests)
SELECT vector_send('[1,2,3]'::vector);
SELECT vector_send('[-0.5]'::vector);

-- binary input through COPY (FORMAT binary), the path drivers use: build a
-- one-row COPY file around the payload, export it and COPY it in.
CREATE TABLE recv_any (v vector);
CREATE TABLE recv_3 (v vector(3));
CREATE FUNCTION recv(payload bytea, tab text DEFAULT 'recv_any') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo oid;
  result text;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
        || '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
  PERFORM lo_export(lo, 'vector_recv_test.copy');
  PERFORM lo_unlink(lo);
  EXECUTE format('DELETE FROM %I', tab);
  EXECUTE format('COPY %I FROM %L (FORMAT binary)', tab, 'vector_recv_test.copy');
  EXECUTE format('SELECT v::text FROM %I', tab) INTO result;
  RETURN result;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT label, recv(payload) FROM (VALUES
  ('ok', '\x000300003f8000004000000040400000'::bytea),
  ('send output', vector_send('[1.5,-2,3e-7]')),
  ('short payload', '\x000300003f80000040000000'),
  ('long payload', '\x000100003f80000040000000'),
  ('truncated header', '\x0003'),
  ('empty', ''),
  ('zero dims', '\x00000000'),
  ('16001 dims', '\x3e810000' || decode(repeat('3f800000', 16001), 'hex')),
  ('65535 dims claimed', '\xffff00003f800000'),
  ('unused not zero', '\x000100013f800000'),
  ('NaN', '\x000100007fc00000'),
  ('infinity', '\x00010000ff800000')) t(label, payload);
SELECT recv('\x000300003f8000004000000040400000', 'recv_3') AS typmod_ok,
       recv('\x000200003f80000040000000', 'recv_3') AS typmod_mismatch;
DROP TABLE recv_any, recv_3;
DROP FUNCTION recv(bytea, text);
DROP FUNCTION try_cast(text, text);

-- every C whitespace character around elements, vertical tab included
SELECT (chr(11) || '[' || E'\t1 ,\f2\r\n,' || chr(11) || '3' || chr(11) || ']' || chr(11))::vector;

-- pgvector's messages, DETAIL included (issue 14)
SELECT '1,2,3'::vector;
SELECT '[1,2,3]9'::vector;
SELECT '[1,2,3'::vector;
SELECT '['::vector;
SELECT '[1, '::vector;
-- array values beyond float4 become infinite, and infinity is not allowed,
-- whatever the element type
SELECT '{4e38,-4e38}'::double precision[]::vector;
SELECT '{1,-4e38}'::double precision[]::vector;
SELECT '{4e38,-4e38}'::numeric[]::vector;
SELECT '{1e400}'::numeric[]::vector;
SELECT '{Infinity}'::real[]::vector;
SELECT '{-Infinity}'::numeric[]::vector;
SELECT '{3.4e38,-3.4e38}'::numeric[]::vector, '{3.4e38}'::double precision[]::vector;
SELECT '[1,2]'::vector + '[1]'::vector;
