# pg_dump and pg_restore of a database that uses the extension.
#
# The source database has a table with vector(16), vector (no typmod,
# mixed dimensions), vector[] and bit(32) columns (NULLs, -0, subnormal,
# largest finite and zero vectors among the rows), one hnsw index per
# operator class with non-default m and ef_construction, a btree index on
# a vector column, and a view over every distance operator and function.
# It is dumped in plain format (restored with psql), custom format
# (pg_restore) and directory format (pg_restore -j 2), each into a fresh
# database.  In each restored database: the rows are identical (md5 of the
# text of every row, and of the binary send form of every vector), the
# column types keep their typmods, the indexes exist, are valid and have
# the same definitions (pg_indexes.indexdef, which includes the options),
# the view has the same definition and the same output, and a top-10 query
# per index is an index scan of that index and returns the ids the source
# returns through its index.  The dump itself holds CREATE EXTENSION and
# none of the extension's own objects.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp ();
use VectorTest;

my $seed = 1041;
my $d = 16;

# One line per index: name, the access method and column part of CREATE
# INDEX, the operator its queries order by, settings for those queries.
my $hnsw = 'SET hnsw.ef_search = 400';
my @indexes = (
	[ 'items_l2', 'hnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 40)', '<->', $hnsw ],
	[ 'items_ip', 'hnsw (embedding vector_ip_ops) WITH (m = 12, ef_construction = 50)', '<#>', $hnsw ],
	[ 'items_cos', 'hnsw (embedding vector_cosine_ops) WITH (m = 10, ef_construction = 24)', '<=>', $hnsw ],
	[ 'items_l1', 'hnsw (embedding vector_l1_ops) WITH (m = 20, ef_construction = 100)', '<+>', $hnsw ],
	[ 'items_ivf', 'ivfflat (embedding vector_l2_ops) WITH (lists = 20)', '<->', 'SET ivfflat.probes = 20' ],
	[ 'items_ivf_cos', 'ivfflat (embedding vector_cosine_ops) WITH (lists = 10)', '<=>', 'SET ivfflat.probes = 10' ],);

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_workers_per_gather = 0\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION vector');

# ---- the source database ----
my $vecs = as_float4(random_vectors(2000, $d, $seed));
my $r = random_vectors(2000, 8, $seed + 1);
my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $PostgreSQL::Test::Utils::tmp_check);
for my $i (0 .. $#$vecs)
{
	my $emb = vec_literal($vecs->[$i]);
	# special values in some rows: -0, subnormals, extremes, zero, NULL
	$emb = '[' . join(',', ('-0', '0.125') x ($d / 2)) . ']' if $i == 1;
	$emb = '[' . join(',', ('1e-45', '-1.1754942e-38', '0.5', '-0.25') x ($d / 4)) . ']' if $i == 2;
	$emb = '[' . join(',', ('3.4028235e+38', '-3.4028235e+38') x ($d / 2)) . ']' if $i == 3;
	$emb = '[' . join(',', ('0') x $d) . ']' if $i == 4;
	$emb = '\N' if $i == 5;
	my $n = 1 + $i % 8;
	my $raw = $i % 11 == 0 ? '\N' : vec_literal([ @{ $r->[$i] }[ 0 .. $n - 1 ] ]);
	$raw = '[1e-45,-1.1754942e-38,3.4028235e+38,-0]' if $i == 6;
	my $arr = $i % 7 == 0 ? '\N' : '{"' . vec_literal([ $i, -$i ]) . '","' . vec_literal([ 0.5 * $i ]) . '"}';
	my $bits = join '', map { ($i * 2654435761 >> $_) & 1 } 0 .. 31;
	print $tmp join("\t", $i, $emb, $raw, $arr, $bits, "row $i"), "\n";
}
close $tmp;
chmod 0644, $tmp->filename;
$node->safe_psql('src',
	    "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d), raw vector, arr vector[], "
	  . "bits bit(32), note text);"
	  . "COPY items FROM '" . $tmp->filename . "';"
	  . 'ANALYZE items;');
$node->safe_psql('src', "CREATE INDEX $_->[0] ON items USING $_->[1]") for @indexes;
$node->safe_psql('src', 'CREATE INDEX items_raw_btree ON items (raw)');
my $q = vec_literal([ map { sprintf('%.3f', sin($_)) } 1 .. $d ]);
$node->safe_psql('src', <<"EOF");
CREATE VIEW item_distances AS
SELECT id,
	embedding <-> '$q' AS l2, embedding <#> '$q' AS nip, embedding <=> '$q' AS cos,
	embedding <+> '$q' AS l1, l2_distance(embedding, '$q') AS l2f,
	inner_product(embedding, '$q') AS ip, cosine_distance(embedding, '$q') AS cosf,
	l1_distance(embedding, '$q') AS l1f, vector_dims(raw) AS dims, vector_norm(raw) AS norm,
	bits <~> B'10101010101010101010101010101010' AS ham,
	bits <%> B'10101010101010101010101010101010' AS jac,
	raw < '[0.5]' AS below, embedding = embedding AS same, (embedding + embedding) - embedding AS back,
	embedding * embedding AS sq, raw || raw AS twice, subvector(embedding, 2, 3) AS sub,
	l2_normalize(embedding) AS unit, binary_quantize(embedding) AS bq, embedding::real[] AS reals
FROM items
WHERE id NOT IN (2, 3, 5);
EOF

# what a restored database must reproduce
my %checks = (
	'rows' => "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM items t",
	'binary' => "SELECT md5(string_agg(coalesce(vector_send(embedding)::text, 'N') || "
	  . "coalesce(vector_send(raw)::text, 'N'), '|' ORDER BY id)) FROM items",
	'count' => 'SELECT count(*), count(embedding), count(raw), count(arr) FROM items',
	'columns' => "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) "
	  . "FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0",
	'indexes' => "SELECT string_agg(indexname || ': ' || indexdef, E'\\n' ORDER BY indexname) "
	  . "FROM pg_indexes WHERE tablename = 'items'",
	'valid' => "SELECT string_agg(c.relname || ' ' || i.indisvalid || ' ' || i.indisready, ', ' ORDER BY c.relname) "
	  . "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'items'::regclass",
	'viewdef' => "SELECT pg_get_viewdef('item_distances'::regclass)",
	'view' => "SELECT md5(string_agg(v::text, '|' ORDER BY id)) FROM item_distances v",
	'extension' => "SELECT extname || ' ' || extversion || ' ' || extnamespace::regnamespace FROM pg_extension "
	  . "WHERE extname = 'vector'",
	'btree' => "SET enable_seqscan = off; SELECT string_agg(id::text, ',' ORDER BY raw, id) "
	  . "FROM items WHERE raw > '[0.9]'");
my %want = map { $_ => $node->safe_psql('src', $checks{$_}) } keys %checks;
like($want{indexes}, qr/hnsw.*m='8'.*ef_construction='40'/, 'source: the options are in the index definition');

# ten queries; each index's top 10 on the source, through that index
my $queries = as_float4(random_vectors(10, $d, $seed + 2));

# Its plan and its top 10 for each query, with the other indexes dropped
# in a transaction that is rolled back (two indexes can serve one operator).
sub topk_by_index
{
	my ($db, $ix) = @_;
	my ($name, undef, $op, $settings) = @$ix;
	my $others = join ', ', map { $_->[0] } grep { $_->[0] ne $name } @indexes;
	my $pre = 'BEGIN; ' . ($others ? "DROP INDEX $others; " : '') . "SET enable_seqscan = off; $settings;\n";
	my $sql = $pre;
	$sql .= "SELECT $_, string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY embedding $op '"
	  . vec_literal($queries->[$_]) . "' LIMIT 10) s;\n"
	  for 0 .. $#$queries;
	my $plan = $node->safe_psql($db,
		    "$pre EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding $op '"
		  . vec_literal($queries->[0])
		  . "' LIMIT 10; ROLLBACK");
	return ($plan, $node->safe_psql($db, "$sql ROLLBACK"));
}

my %src_topk;
for my $ix (@indexes)
{
	my ($plan, $ids) = topk_by_index('src', $ix);
	like($plan, qr/Index Scan using $ix->[0] /, "source: $ix->[0] serves its query");
	$src_topk{ $ix->[0] } = $ids;
	# the index finds the exact answer at this ef_search (else the
	# comparison below would compare two approximations)
	my $exact = $node->safe_psql('src',
		"SET enable_indexscan = off; SET enable_bitmapscan = off;\n"
		  . join '',
		map {
			    "SELECT $_, string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY embedding $ix->[2] '"
			  . vec_literal($queries->[$_])
			  . "' LIMIT 10) s;\n"
		} 0 .. $#$queries);
	is($ids, $exact, "source: $ix->[0] returns the exact top 10 for every query");
}

# ---- dump in three formats, restore each into a fresh database ----
my $dir = $PostgreSQL::Test::Utils::tmp_check;
$node->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/dump.sql", '-d', 'src' ], 'pg_dump, plain format');
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/dump.custom", '-d', 'src' ], 'pg_dump, custom format');
$node->command_ok([ 'pg_dump', '-Fd', '-j', '2', '-f', "$dir/dump.dir", '-d', 'src' ],
	'pg_dump, directory format, 2 jobs');

my $plain = slurp_file("$dir/dump.sql");
like($plain, qr/^CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;$/m, 'the dump creates the extension');
unlike($plain, qr/CREATE (FUNCTION|OPERATOR|TYPE|CAST|ACCESS METHOD|AGGREGATE)\b/,
	"the dump holds none of the extension's own objects");
like($plain, qr/USING hnsw \(embedding public\.vector_l2_ops\) WITH \(m='8', ef_construction='40'\)/,
	'the dump keeps the hnsw options');

my %restore = (
	'plain' => [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'plain', '-f', "$dir/dump.sql" ],
	'custom' => [ 'pg_restore', '--exit-on-error', '-d', 'custom', "$dir/dump.custom" ],
	'directory' => [ 'pg_restore', '--exit-on-error', '-j', '2', '-d', 'directory', "$dir/dump.dir" ],);
for my $fmt (sort keys %restore)
{
	$node->safe_psql('postgres', "CREATE DATABASE $fmt");
	$node->command_ok($restore{$fmt}, "$fmt: restore");
	for my $c (sort keys %checks)
	{
		is($node->safe_psql($fmt, $checks{$c}), $want{$c}, "$fmt: $c identical to the source");
	}
	for my $ix (@indexes)
	{
		my ($plan, $ids) = topk_by_index($fmt, $ix);
		like($plan, qr/Index Scan using $ix->[0] /, "$fmt: the query is an index scan of $ix->[0]");
		is($ids, $src_topk{ $ix->[0] }, "$fmt: $ix->[0] returns the source's top 10 for every query");
	}
	# the restored indexes take new rows
	$node->safe_psql($fmt, "INSERT INTO items (id, embedding) VALUES (100000, '" . vec_literal($queries->[0]) . "')");
	for my $ix (@indexes)
	{
		next if $ix->[2] eq '<#>';    # the nearest under ip is the largest, not the row itself
		is($node->safe_psql($fmt,
				    "SET enable_seqscan = off; $ix->[3]; SELECT id FROM items ORDER BY embedding $ix->[2] '"
				  . vec_literal($queries->[0])
				  . "' LIMIT 1"),
			'100000', "$fmt: a row inserted after the restore is found through $ix->[0]");
	}
}

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
