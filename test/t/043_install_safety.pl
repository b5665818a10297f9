# Install-script safety.
#
# (a) Labels: every function of the extension is IMMUTABLE, STRICT and
#     PARALLEL SAFE (the manual says so of all of them; the contract needs
#     it of the I/O, distance, cast and aggregate support functions), except
#     index access method handlers and functions that read a relation (an
#     index check), which must not be IMMUTABLE; every aggregate is PARALLEL
#     SAFE with a combine function, and a parallel plan really aggregates in
#     parts.
#     The type's I/O functions, array type and storage and the casts'
#     contexts are the contract's.  Violations are listed.
# (b) No search_path hijack: a non-superuser (mallory) owns a schema that
#     comes first in search_path.  Before the install it holds domains
#     named like the catalog types the script uses (float8, int4, ...); the
#     install runs with that search_path.  Afterwards it holds a look-alike
#     of every extension function (raising an error when called), of every
#     operator and of the aggregates.  With it first in search_path, a
#     non-superuser creates a table, inserts through the assignment and
#     typmod casts, builds an hnsw index per operator class and a btree
#     index, inserts again, runs index scans (operators written schema-
#     qualified), aggregates, sorts, REINDEX and VACUUM: nothing reaches the
#     look-alikes, and no object outside mallory's schema depends on
#     anything in it.  The same SQL written unqualified does reach them (a
#     control: the trap is live).  Objects planted in the target schema
#     before CREATE EXTENSION (a function of the same signature, a shell
#     operator) make the install fail instead of being adopted.
# (c) A non-superuser with its own schema creates hnsw indexes of every
#     operator class on its table and runs every operator, function and
#     aggregate; CREATE EXTENSION by a non-superuser database owner does
#     what the control file's trusted flag says (false: a clean permission
#     error).  The extension is relocatable: installed in a schema outside
#     search_path, and moved with ALTER EXTENSION SET SCHEMA, it still works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('install_safety');
$node->init;
$node->start;

# psql as a role; returns (exit status, stdout, stderr)
sub psql_as
{
	my ($db, $role, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-U', $role, '-v', 'ON_ERROR_STOP=1' ]);
	return ($ret, $out, $err);
}

# $sql as $role must succeed; returns stdout
sub works_as
{
	my ($db, $role, $sql, $name) = @_;
	my ($ret, $out, $err) = psql_as($db, $role, $sql);
	ok($ret == 0, "$name: succeeds") or diag($err);
	return $out;
}

# $sql as $role must fail with an ERROR matching $pattern
sub fails_as
{
	my ($db, $role, $sql, $pattern, $name) = @_;
	my ($ret, $out, $err) = psql_as($db, $role, $sql);
	ok($ret != 0 && $err =~ /ERROR:\s+$pattern/, "$name: fails with the expected error")
	  or diag("exit $ret, stderr: $err");
	return $err;
}

$node->safe_psql('postgres',
	    'CREATE ROLE mallory LOGIN; CREATE ROLE app LOGIN;'
	  . 'CREATE SCHEMA evil AUTHORIZATION mallory; GRANT USAGE ON SCHEMA evil TO PUBLIC;'
	  . 'CREATE SCHEMA app AUTHORIZATION app;');

# ---- (b, part 1) the install, with mallory's schema first in search_path ----
works_as('postgres', 'mallory', join('', map { "CREATE DOMAIN evil.$_->[0] AS $_->[1];\n" }
		  ([ 'float8', 'numeric' ], [ 'float4', 'numeric' ], [ 'int4', 'bigint' ], [ 'bool', 'int' ],
		   [ 'text', 'int' ], [ 'bytea', 'int' ], [ 'cstring', 'int' ], [ 'oid', 'int' ])),
	'mallory plants catalog-type look-alikes');
$node->safe_psql('postgres', 'SET search_path = evil, public; CREATE EXTENSION vector SCHEMA public');

# every function, operator, cast and aggregate the extension has
my $members = <<'EOF';
SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'vector'
EOF

# ---- (a) labels ----
my $labels = $node->safe_psql('postgres', <<"EOF");
WITH m AS ($members)
SELECT p.oid::regprocedure || ': ' ||
	CASE WHEN p.prokind = 'a' THEN
		concat_ws(', ', CASE WHEN p.proparallel <> 's' THEN 'aggregate not PARALLEL SAFE' END,
			CASE WHEN a.aggcombinefn = 0 THEN 'aggregate without a combine function' END)
	ELSE
		concat_ws(', ', CASE WHEN p.provolatile <> 'i' THEN 'not IMMUTABLE' END,
			CASE WHEN NOT p.proisstrict THEN 'not STRICT' END,
			CASE WHEN p.proparallel <> 's' THEN 'not PARALLEL SAFE' END)
	END
FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE p.prorettype <> 'index_am_handler'::regtype AND NOT 'regclass'::regtype = ANY (p.proargtypes)
ORDER BY 1
EOF
# the exceptions: access method handlers (pgvector leaves them unlabelled)
# and functions that look at a relation (such as an index check), which
# must not claim to be IMMUTABLE
my $exempt = $node->safe_psql('postgres', <<"EOF");
WITH m AS ($members)
SELECT p.oid::regprocedure || ': ' || CASE WHEN p.provolatile = 'i' AND p.prorettype <> 'index_am_handler'::regtype
	THEN 'reads a relation but is IMMUTABLE' ELSE '' END
FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
WHERE p.prorettype = 'index_am_handler'::regtype OR 'regclass'::regtype = ANY (p.proargtypes)
ORDER BY 1
EOF
note("not held to IMMUTABLE STRICT PARALLEL SAFE: $exempt");
is_deeply([ grep { !/: $/ } split /\n/, $exempt ], [], 'no function that reads a relation is IMMUTABLE');
my @checked = split /\n/, $labels;
my @violations = grep { !/: $/ } @checked;
my $nfunc = @checked;
cmp_ok($nfunc, '>=', 40, "the extension has its functions ($nfunc checked)");
is_deeply(\@violations, [], 'every function is IMMUTABLE STRICT PARALLEL SAFE, every aggregate PARALLEL SAFE with a combine function')
  or diag("violations:\n" . join("\n", @violations));

# the functions the contract names are there (and so were checked above)
my @named = ('vector_in(cstring,oid,integer)', 'vector_out(vector)', 'vector_typmod_in(cstring[])',
	'vector_recv(internal,oid,integer)', 'vector_send(vector)', 'l2_distance(vector,vector)',
	'inner_product(vector,vector)', 'cosine_distance(vector,vector)', 'l1_distance(vector,vector)',
	'vector_dims(vector)', 'vector_norm(vector)', 'l2_normalize(vector)', 'binary_quantize(vector)',
	'subvector(vector,integer,integer)', 'hamming_distance(bit,bit)', 'jaccard_distance(bit,bit)',
	'vector_l2_squared_distance(vector,vector)', 'vector_negative_inner_product(vector,vector)',
	'vector_spherical_distance(vector,vector)', 'vector(vector,integer,boolean)',
	'array_to_vector(integer[],integer,boolean)', 'array_to_vector(real[],integer,boolean)',
	'array_to_vector(double_precision[],integer,boolean)',
	'array_to_vector(numeric[],integer,boolean)', 'vector_to_float4(vector,integer,boolean)',
	'avg(vector)', 'sum(vector)');
my $have = $node->safe_psql('postgres', "WITH m AS ($members) SELECT replace(objid::regprocedure::text, ' ', '_') "
	  . "FROM m WHERE classid = 'pg_proc'::regclass");
my %have = map { $_ => 1 } split /\n/, $have;
is_deeply([ grep { !$have{$_} } @named ], [], 'every function the contract names belongs to the extension');

is($node->safe_psql('postgres', <<'EOF'),
SELECT format('%s %s %s %s %s %s %s', typinput::regproc, typoutput::regproc, typreceive::regproc,
	typsend::regproc, typmodin::regproc, typstorage, typarray <> 0)
FROM pg_type WHERE oid = 'vector'::regtype
EOF
	'vector_in vector_out vector_recv vector_send vector_typmod_in e t',
	'vector: I/O, binary I/O and typmod functions, external storage, an array type');
my %casts = (
	'integer[] -> vector' => 'a array_to_vector',
	'real[] -> vector' => 'a array_to_vector',
	'double precision[] -> vector' => 'a array_to_vector',
	'numeric[] -> vector' => 'a array_to_vector',
	'vector -> real[]' => 'i vector_to_float4',
	'vector -> vector' => 'i vector');
my %got_casts = map { split /\|/ } split /\n/, $node->safe_psql('postgres', <<'EOF');
SELECT format('%s -> %s', castsource::regtype, casttarget::regtype), format('%s %s', castcontext, (SELECT proname FROM pg_proc WHERE oid = castfunc))
FROM pg_cast WHERE castsource = 'vector'::regtype OR casttarget = 'vector'::regtype
EOF
is_deeply({ map { $_ => $got_casts{$_} } keys %casts }, \%casts, 'the casts of the contract, with their contexts');

# parallel aggregation really happens, and gives the serial answer
$node->safe_psql('postgres',
	    'CREATE TABLE par (id int, e vector(4));'
	  . 'INSERT INTO par SELECT g, ARRAY[g % 7, g % 11, g % 13, 1]::vector FROM generate_series(1, 100000) g;'
	  . 'ANALYZE par');
my $par = 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; '
  . 'SET max_parallel_workers_per_gather = 2;';
my $agg = 'SELECT avg(e), sum(e), count(*) FROM par';
like($node->safe_psql('postgres', "$par EXPLAIN (COSTS OFF) $agg"),
	qr/Finalize Aggregate.*Gather.*Partial Aggregate/s, 'avg(vector) and sum(vector) plan as partial aggregates');
is($node->safe_psql('postgres', "$par $agg"),
	$node->safe_psql('postgres', "SET max_parallel_workers_per_gather = 0; $agg"),
	'the parallel aggregates equal the serial ones');

# ---- (b, part 2) look-alikes of everything, in mallory's schema ----
my @funcs = (
	[ 'l2_distance', 'public.vector, public.vector', 'float8' ],
	[ 'inner_product', 'public.vector, public.vector', 'float8' ],
	[ 'cosine_distance', 'public.vector, public.vector', 'float8' ],
	[ 'l1_distance', 'public.vector, public.vector', 'float8' ],
	[ 'vector_l2_squared_distance', 'public.vector, public.vector', 'float8' ],
	[ 'vector_negative_inner_product', 'public.vector, public.vector', 'float8' ],
	[ 'vector_spherical_distance', 'public.vector, public.vector', 'float8' ],
	[ 'vector_dims', 'public.vector', 'int' ],
	[ 'vector_norm', 'public.vector', 'float8' ],
	[ 'l2_normalize', 'public.vector', 'public.vector' ],
	[ 'binary_quantize', 'public.vector', 'bit' ],
	[ 'subvector', 'public.vector, int, int', 'public.vector' ],
	[ 'vector_add', 'public.vector, public.vector', 'public.vector' ],
	[ 'vector_sub', 'public.vector, public.vector', 'public.vector' ],
	[ 'vector_mul', 'public.vector, public.vector', 'public.vector' ],
	[ 'vector_concat', 'public.vector, public.vector', 'public.vector' ],
	(map { [ "vector_$_", 'public.vector, public.vector', 'bool' ] } qw(lt le eq ne ge gt)),
	[ 'vector_cmp', 'public.vector, public.vector', 'int' ],
	[ 'hamming_distance', 'bit, bit', 'float8' ],
	[ 'jaccard_distance', 'bit, bit', 'float8' ],
	[ 'vector', 'public.vector, int, bool', 'public.vector' ],
	(map { [ 'array_to_vector', "$_\[], int, bool", 'public.vector' ] } ('int', 'real', 'float8', 'numeric')),
	[ 'vector_to_float4', 'public.vector, int, bool', 'real[]' ],
	[ 'vector_send', 'public.vector', 'bytea' ],
	[ 'vector_accum', 'float8[], public.vector', 'float8[]' ],
	[ 'vector_avg', 'float8[]', 'public.vector' ],
	[ 'vector_combine', 'float8[], float8[]', 'float8[]' ],);
my $evil = "SET search_path = pg_catalog;\n";
for my $f (@funcs)
{
	my ($name, $args, $ret) = @$f;
	$ret =~ s/^float8/pg_catalog.float8/;
	$ret =~ s/^bool$/pg_catalog.bool/;
	$ret =~ s/^int$/pg_catalog.int4/;
	$evil .= "CREATE FUNCTION evil.$name($args) RETURNS $ret LANGUAGE plpgsql "
	  . "AS \$\$BEGIN RAISE EXCEPTION 'hijacked: $name'; END\$\$;\n";
}
my %ops = (
	'<->' => 'l2_distance', '<#>' => 'vector_negative_inner_product', '<=>' => 'cosine_distance',
	'<+>' => 'l1_distance', '+' => 'vector_add', '-' => 'vector_sub', '*' => 'vector_mul',
	'||' => 'vector_concat', '<' => 'vector_lt', '<=' => 'vector_le', '=' => 'vector_eq',
	'<>' => 'vector_ne', '>=' => 'vector_ge', '>' => 'vector_gt');
for my $op (sort keys %ops)
{
	$evil .= "CREATE OPERATOR evil.$op (LEFTARG = public.vector, RIGHTARG = public.vector, "
	  . "PROCEDURE = evil.$ops{$op});\n";
}
$evil .= "CREATE OPERATOR evil.<~> (LEFTARG = bit, RIGHTARG = bit, PROCEDURE = evil.hamming_distance);\n"
  . "CREATE OPERATOR evil.<%> (LEFTARG = bit, RIGHTARG = bit, PROCEDURE = evil.jaccard_distance);\n"
  . "CREATE AGGREGATE evil.avg(public.vector) (SFUNC = evil.vector_accum, STYPE = float8[], "
  . "FINALFUNC = evil.vector_avg, INITCOND = '{0}');\n"
  . "CREATE AGGREGATE evil.sum(public.vector) (SFUNC = evil.vector_add, STYPE = public.vector);\n";
works_as('postgres', 'mallory', $evil, 'mallory plants look-alikes of every function and operator');

# a superuser-only way in stays closed to mallory
fails_as('postgres', 'mallory',
	'CREATE OPERATOR CLASS evil.vector_l2_ops FOR TYPE public.vector USING hnsw AS '
	  . 'OPERATOR 1 evil.<-> (public.vector, public.vector) FOR ORDER BY float_ops, '
	  . 'FUNCTION 1 evil.vector_l2_squared_distance(public.vector, public.vector)',
	'must be superuser', 'mallory cannot plant an operator class');
fails_as('postgres', 'mallory',
	'CREATE OR REPLACE FUNCTION public.l2_distance(public.vector, public.vector) RETURNS float8 '
	  . "LANGUAGE sql AS 'SELECT 0::float8'",
	'(permission denied|must be owner)', "mallory cannot replace the extension's functions");

# the control: unqualified user SQL resolves to the look-alikes
my $path = 'SET search_path = evil, app, public;';
fails_as('postgres', 'app', "$path SELECT '[1,2]'::vector <-> '[3,4]'", 'hijacked: l2_distance',
	'control: an unqualified <-> reaches the look-alike');
fails_as('postgres', 'app', "$path SELECT avg(e) FROM (VALUES ('[1,2]'::public.vector)) v(e)",
	'hijacked: vector_accum', 'control: an unqualified avg() reaches the look-alike');

# the extension's own machinery does not
my $n = 300;
my $q = "'[0.5,0.25,0.125]'::public.vector";
my $setup = <<"EOF";
$path
CREATE TABLE app.items (id int, e public.vector(3), b bit(16), a public.vector[]);
INSERT INTO app.items SELECT g, ARRAY[sin(g), cos(g), g % 5]::double precision[], (g * 40503 % 65536)::bit(16),
	ARRAY['[1,2]'::public.vector, ARRAY[g, g]::int[]::public.vector]
FROM generate_series(1, $n) g;
INSERT INTO app.items VALUES (0, ARRAY[1, 2, 3]::int[], B'1010101010101010', NULL),
	(-1, ARRAY[1.5, 2.5, 3.5]::numeric[], B'0000000011111111', NULL),
	(-2, ARRAY[0.5, 0.25, 0.125]::real[], B'1111111100000000', NULL);
INSERT INTO app.items (id, e) SELECT -3, '[9,9,9]'::public.vector;
CREATE INDEX items_l2 ON app.items USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 16);
CREATE INDEX items_ip ON app.items USING hnsw (e vector_ip_ops);
CREATE INDEX items_cos ON app.items USING hnsw (e vector_cosine_ops);
CREATE INDEX items_l1 ON app.items USING hnsw (e vector_l1_ops);
CREATE INDEX items_btree ON app.items (e);
INSERT INTO app.items SELECT g, ARRAY[sin(g), cos(g), g % 5]::double precision[] FROM generate_series($n + 1, $n + 100) g;
EOF
works_as('postgres', 'app', $setup,
	'with the look-alikes first in search_path: table, casts, hnsw and btree indexes, inserts');

my $scan = "$path SET enable_seqscan = off; SET hnsw.ef_search = 100;";
for my $c ([ 'l2', '<->' ], [ 'ip', '<#>' ], [ 'cos', '<=>' ], [ 'l1', '<+>' ])
{
	my ($m, $op) = @$c;
	my $sql = "SELECT id FROM app.items ORDER BY e OPERATOR(public.$op) $q LIMIT 5";
	like(works_as('postgres', 'app', "$scan EXPLAIN (COSTS OFF) $sql", "$m: plan"),
		qr/Index Scan using items_$m /, "$m: an index scan with the look-alikes first in search_path");
	is(works_as('postgres', 'app', "$scan $sql", "$m: index scan"),
		works_as('postgres', 'app', "$path SET enable_indexscan = off; $sql", "$m: seq scan"),
		"$m: the index scan returns what the seq scan returns");
}
like(works_as('postgres', 'app', "$scan SELECT id FROM app.items ORDER BY e OPERATOR(public.<->) $q LIMIT 1",
		'l2 nearest'), qr/^-2$/, 'the nearest row through the index is the query itself');
works_as('postgres', 'app', <<"EOF", 'sorting, grouping, aggregates, I/O, REINDEX and VACUUM with the look-alikes first');
$path
SET enable_seqscan = off;
SELECT e FROM app.items ORDER BY e LIMIT 3;
SELECT count(DISTINCT e), count(*) FROM (SELECT e FROM app.items GROUP BY e) s;
SELECT public.avg(e), public.sum(e) FROM app.items;
SELECT CAST(e AS pg_catalog.text), e::real[], CAST(a AS pg_catalog.text) FROM app.items WHERE id < 3;
SELECT b OPERATOR(public.<~>) B'1111000011110000', b OPERATOR(public.<%>) B'1111000011110000' FROM app.items WHERE id < 3;
COPY (SELECT e FROM app.items WHERE id < 3) TO STDOUT (FORMAT binary);
REINDEX TABLE app.items;
VACUUM app.items;
EOF
my $deps = $node->safe_psql('postgres', <<'EOF');
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> ' ||
	pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
FROM pg_depend d,
	LATERAL pg_identify_object(d.refclassid, d.refobjid, 0) r,
	LATERAL pg_identify_object(d.classid, d.objid, 0) o
WHERE r.schema = 'evil' AND o.schema IS DISTINCT FROM 'evil'
	AND NOT (d.refclassid = 'pg_namespace'::regclass)
ORDER BY 1
EOF
is($deps, '', "no object outside mallory's schema depends on anything in it") or diag($deps);
is($node->safe_psql('postgres', <<"EOF"), '', "the extension's objects are all owned by the installing superuser");
WITH m AS ($members)
SELECT string_agg(pg_describe_object(m.classid, m.objid, 0), ', ') FROM m
	LEFT JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	LEFT JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
	LEFT JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
WHERE coalesce(p.proowner, o.oprowner, t.typowner, 10) <> 10
EOF

# objects planted in the target schema before CREATE EXTENSION
$node->safe_psql('postgres',
	    'CREATE DATABASE trap1; CREATE DATABASE trap2;');
for my $db (qw(trap1 trap2))
{
	$node->safe_psql($db, 'CREATE SCHEMA shared; GRANT CREATE, USAGE ON SCHEMA shared TO mallory');
}
works_as('trap1', 'mallory',
	"CREATE FUNCTION shared.hamming_distance(bit, bit) RETURNS float8 LANGUAGE sql AS 'SELECT 42::float8'",
	'mallory plants hamming_distance(bit, bit) in the target schema');
fails_as('trap1', $node->safe_psql('postgres', 'SELECT current_user'), 'CREATE EXTENSION vector SCHEMA shared',
	'function "hamming_distance" already exists', 'the install refuses a planted function');
works_as('trap2', 'mallory',
	    "CREATE FUNCTION shared.evil_bits(bit, bit) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';"
	  . 'CREATE OPERATOR shared.<#%> (LEFTARG = bit, RIGHTARG = bit, PROCEDURE = shared.evil_bits, '
	  . 'COMMUTATOR = OPERATOR(shared.<~>))',
	'mallory plants a shell operator <~> (bit, bit) in the target schema');
fails_as('trap2', $node->safe_psql('postgres', 'SELECT current_user'), 'CREATE EXTENSION vector SCHEMA shared',
	'(must be owner of operator <~>|operator .* already exists|operator <~>\(bit,bit\) is not a member of extension)',
	'the install refuses to fill in a planted shell operator');
for my $db (qw(trap1 trap2))
{
	is($node->safe_psql($db, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"), '0',
		"$db: no extension left behind");
}

# ---- (c) a non-superuser: its own table, every operator class, every operator ----
my $appsql = <<"EOF";
SET search_path = app, public;
CREATE TABLE docs (id int PRIMARY KEY, e vector(3), b bit(8));
INSERT INTO docs SELECT g, ARRAY[g % 10, g / 10 % 10, g % 3]::int[], (g % 256)::bit(8) FROM generate_series(1, 500) g;
CREATE INDEX docs_l2 ON docs USING hnsw (e vector_l2_ops) WITH (m = 6, ef_construction = 20);
CREATE INDEX docs_ip ON docs USING hnsw (e vector_ip_ops);
CREATE INDEX docs_cos ON docs USING hnsw (e vector_cosine_ops);
CREATE INDEX docs_l1 ON docs USING hnsw (e vector_l1_ops);
CREATE INDEX docs_btree ON docs (e);
SET enable_seqscan = off; SET hnsw.ef_search = 200; SET hnsw.iterative_scan = relaxed_order;
SELECT (SELECT id FROM docs ORDER BY e <-> '[3,4,1]' LIMIT 1),
	(SELECT count(*) FROM (SELECT id FROM docs ORDER BY e <#> '[3,4,1]' LIMIT 10) s),
	(SELECT count(*) FROM (SELECT id FROM docs ORDER BY e <=> '[3,4,1]' LIMIT 10) s),
	(SELECT count(*) FROM (SELECT id FROM docs ORDER BY e <+> '[3,4,1]' LIMIT 10) s);
SELECT '[1,2,3]'::vector + '[1,1,1]', '[1,2,3]'::vector - '[1,1,1]', '[1,2,3]'::vector * '[2,2,2]',
	'[1,2]'::vector || '[3]', '[1,2]'::vector < '[1,3]', '[1,2]'::vector <= '[1,2]', '[1,2]'::vector = '[1,2]',
	'[1,2]'::vector <> '[1,2]', '[1,2]'::vector >= '[1,3]', '[1,2]'::vector > '[1,3]',
	B'1100' <~> B'1010', B'1100' <%> B'1010';
SELECT l2_distance(e, '[1,1,1]') IS NOT NULL, inner_product(e, e) >= 0, cosine_distance(e, '[1,1,1]') IS NOT NULL,
	l1_distance(e, e), vector_dims(e), vector_norm(e) >= 0, l2_normalize(e) IS NOT NULL, binary_quantize(e),
	subvector(e, 1, 2), vector_l2_squared_distance(e, e), vector_negative_inner_product(e, e) <= 0,
	vector_spherical_distance(l2_normalize('[1,0,0]'), l2_normalize('[1,0,0]')),
	hamming_distance(b, b), jaccard_distance(b, B'11111111'), e::real[], vector_send(e)
FROM docs WHERE id = 7;
SELECT avg(e), sum(e) FROM docs;
REINDEX INDEX docs_l2;
VACUUM docs;
DELETE FROM docs WHERE id % 2 = 0;
VACUUM docs;
DROP INDEX docs_ip;
EOF
my $out = works_as('postgres', 'app', $appsql, 'app: hnsw indexes of every operator class, every operator, function and aggregate');
like($out, qr/^\d+\|10\|10\|10$/m, 'app: index scans return rows for every operator class');
like($out, qr/^\[2,3,4\]\|\[0,1,2\]\|\[2,4,6\]\|\[1,2,3\]\|t\|t\|t\|f\|f\|f\|2\|/m, 'app: operators give the right answers');

# CREATE EXTENSION by a non-superuser database owner
my $trusted = $node->safe_psql('postgres',
	"SELECT trusted FROM pg_available_extension_versions WHERE name = 'vector' AND version = '0.1.0'");
$node->safe_psql('postgres', 'CREATE DATABASE appdb OWNER app');
if ($trusted eq 't')
{
	works_as('appdb', 'app', 'CREATE EXTENSION vector; CREATE TABLE t (e vector(2)); '
		  . 'CREATE INDEX ON t USING hnsw (e vector_l2_ops)',
		'trusted: the database owner installs the extension and uses it');
}
else
{
	my $err = fails_as('appdb', 'app', 'CREATE EXTENSION vector',
		'permission denied to create extension "vector"',
		'not trusted: CREATE EXTENSION by the database owner is a clean permission error');
	like($err, qr/HINT:\s+Must be superuser to create this extension/, 'not trusted: with the hint');
	is($node->safe_psql('appdb', "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"), '0',
		'not trusted: nothing was installed');
}

# ---- relocatable ----
$node->safe_psql('postgres', 'CREATE DATABASE reloc');
my $reloc = <<'EOF';
SET search_path = public;
CREATE TABLE t (id int, e SCHEMA.vector(3));
INSERT INTO t SELECT g, ARRAY[g, g % 7, 1] FROM generate_series(1, 200) g;
CREATE INDEX t_l2 ON t USING hnsw (e SCHEMA.vector_l2_ops);
INSERT INTO t VALUES (1000, '[50.5,0.5,1]');
SET enable_seqscan = off;
SELECT id FROM t ORDER BY e OPERATOR(SCHEMA.<->) '[50.4,0.4,1]' LIMIT 1;
SELECT SCHEMA.avg(e)::text, SCHEMA.vector_dims(e) FROM t WHERE id = 1000 GROUP BY e;
EOF
$node->safe_psql('reloc', 'CREATE SCHEMA ext; CREATE SCHEMA ext2; CREATE EXTENSION vector SCHEMA ext');
(my $sql = $reloc) =~ s/SCHEMA\./ext./g;
is(works_as('reloc', $node->safe_psql('postgres', 'SELECT current_user'), $sql, 'extension outside search_path'),
	"1000\n[50.5,0.5,1]|3", 'installed in a schema outside search_path, the extension works');
$node->safe_psql('reloc', 'ALTER EXTENSION vector SET SCHEMA ext2');
is($node->safe_psql('reloc',
		"SET search_path = public; SET enable_seqscan = off; INSERT INTO t VALUES (1001, '[77.1,0.1,1]'); "
		  . "SELECT id FROM t ORDER BY e OPERATOR(ext2.<->) '[77.2,0.2,1]' LIMIT 1"),
	'1001', 'after ALTER EXTENSION SET SCHEMA the index takes rows and finds them');
is($node->safe_psql('reloc', "SELECT count(*) FROM pg_proc WHERE pronamespace = 'ext'::regnamespace"), '0',
	'every function moved with the extension');

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
