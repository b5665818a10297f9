# CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY of hnsw and ivfflat
# indexes while pgbench clients insert, update and delete rows (issue 16,
# item 8).  Afterwards every index is valid, vector_index_check() finds
# nothing wrong, and each index holds exactly the live rows: an hnsw scan
# with iterative_scan walks the whole graph and returns every live row once,
# and an ivfflat scan probing every list returns every live row once.
# Catches: a concurrent build that misses rows inserted or updated while it
# scanned the heap (PostgreSQL's validation pass hands them to aminsert,
# which must then find the index usable), a build that indexes rows its
# snapshot cannot see twice, and an index REINDEX CONCURRENTLY swapped in
# half built.
use strict;
use warnings;
use File::Temp;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('concurrent_reindex');
$node->init;
$node->append_conf('postgresql.conf',
	"autovacuum = off\nmax_connections = 30\nmax_parallel_maintenance_workers = 1");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
$node->safe_psql('postgres',
	    'CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16));'
	  . 'CREATE SEQUENCE ids START 100000;'
	  . 'CREATE FUNCTION rand_vec() RETURNS vector LANGUAGE sql VOLATILE AS '
	  . "\$\$SELECT array_agg(random())::vector FROM generate_series(1, 16)\$\$;"
	  . 'INSERT INTO items SELECT i, rand_vec() FROM generate_series(0, 5999) i');

my $tmp = File::Temp->newdir(DIR => $PostgreSQL::Test::Utils::tmp_check);
my %scripts = (
	insert => "INSERT INTO items VALUES (nextval('ids'), rand_vec());\n",
	update => "\\set id random(0, 5999)\nUPDATE items SET embedding = rand_vec() WHERE id = :id;\n",
	delete => "\\set id random(0, 5999)\nDELETE FROM items WHERE id = :id;\n");
my @files = pgbench_files($tmp, \%scripts, sub { { insert => 5, update => 3, delete => 2 }->{ $_[0] } });
my ($out, $err) = ('', '');
my $bench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n', '-c', 4, '-j', 2, '-T', 30,
		@files, $node->connstr('postgres')
	],
	'>', \$out, '2>', \$err);

# build and rebuild while the writes go on
my %indexes = (
	items_hnsw => 'USING hnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 32)',
	items_ivf => 'USING ivfflat (embedding vector_l2_ops) WITH (lists = 20)');
for my $name (sort keys %indexes)
{
	$node->safe_psql('postgres', "CREATE INDEX CONCURRENTLY $name ON items $indexes{$name}");
}
my $rounds = 0;
while ($rounds < 6 && $bench->pumpable)
{
	for my $name (sort keys %indexes)
	{
		$node->safe_psql('postgres', "REINDEX INDEX CONCURRENTLY $name");
	}
	$rounds++;
}
$bench->finish;
ok(!$?, 'pgbench ran the workload') or diag("$err\n$out");
unlike($err, qr/ERROR|FATAL/, 'no statement failed') or diag($err);
cmp_ok($rounds, '>=', 1, "REINDEX CONCURRENTLY ran beside the writes ($rounds rounds)");

my $live = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
note("$live live rows after the workload");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_index WHERE indexrelid IN ('items_hnsw'::regclass, 'items_ivf'::regclass) "
		  . 'AND indisvalid AND indisready'),
	2,
	'both indexes are valid and ready');
for my $name (sort keys %indexes)
{
	is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$name') p"),
		'', "$name: vector_index_check finds nothing wrong");
}

# every live row exactly once through each index, the other one dropped
# for the while (DROP INDEX rolls back)
my $q = "(SELECT embedding FROM items ORDER BY id LIMIT 1)";
my %settings = (
	items_hnsw => 'SET LOCAL hnsw.iterative_scan = relaxed_order; '
	  . 'SET LOCAL hnsw.max_scan_tuples = 1000000; SET LOCAL hnsw.ef_search = 1000;',
	items_ivf => 'SET LOCAL ivfflat.probes = 20;');
for my $name (sort keys %indexes)
{
	my ($other) = grep { $_ ne $name } keys %indexes;
	my $sql = "BEGIN; DROP INDEX $other; SET LOCAL enable_seqscan = off; "
	  . "SET LOCAL enable_bitmapscan = off; $settings{$name} %s; ROLLBACK;";
	my $plan = $node->safe_psql('postgres',
		sprintf($sql, "EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> $q LIMIT 5"));
	like($plan, qr/Index Scan using $name/, "$name: the check runs through it");
	my $got = $node->safe_psql('postgres',
		sprintf($sql,
			    "SELECT count(*) || '|' || count(DISTINCT id) FROM "
			  . "(SELECT id FROM items ORDER BY embedding <-> $q LIMIT 1000000) s"));
	($got) = grep { /^\d+\|\d+$/ } split /\n/, $got;
	is($got, "$live|$live", "$name returns every live row once");
}

done_testing();
