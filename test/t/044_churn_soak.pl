# Churn soak: for a bounded time, several clients at once (pgbench) run
# single-row inserts, updates of the vector column, deletes, top-k queries
# with and without a filter, and VACUUM, against one table with an hnsw
# index and one with an ivfflat index.  Then:
#   - no query returned a row that does not exist (each query checks its
#     own results against the table inside its transaction and raises;
#     the executor's heap check already hides such rows, so the index
#     itself is checked below);
#   - every live row is found through the index by its own vector at k = 1;
#   - after a last VACUUM, vector_index_check() finds nothing wrong: for
#     hnsw that includes no live node on a heap slot VACUUM freed;
#   - the server log shows no crash.
# The operation counts and duration are reported (diag) for the issue note.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use VectorTest;

my $seconds = $ENV{VECTOR_SOAK_SECONDS} // 40;
my $clients = 4;
my $d = 16;

my $node = PostgreSQL::Test::Cluster->new('churn_soak');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmax_connections = 30\nautovacuum = off\nlog_min_messages = warning");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

# random_vec(): a random 16-dimensional vector; check_found(ids): raises
# unless every returned id is a live row (run in the query's transaction)
$node->safe_psql('postgres', <<"SQL");
CREATE FUNCTION random_vec() RETURNS vector LANGUAGE sql VOLATILE AS
  \$\$ SELECT array_agg(random()::real * 2 - 1)::vector FROM generate_series(1, $d) \$\$;
CREATE SEQUENCE ids START 100000;
SQL
for my $t (qw(h i))
{
	$node->safe_psql('postgres',
		    "CREATE TABLE items_$t (id int PRIMARY KEY, embedding vector($d), cat int);"
		  . "INSERT INTO items_$t SELECT i, random_vec(), i % 20 FROM generate_series(1, 5000) i;");
}
$node->safe_psql('postgres',
	    'CREATE INDEX items_h_idx ON items_h USING hnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 32);'
	  . 'CREATE INDEX items_i_idx ON items_i USING ivfflat (embedding) WITH (lists = 20);');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my %scripts;
for my $t (qw(h i))
{
	my $set = $t eq 'h' ? 'SET hnsw.ef_search = 100; SET hnsw.iterative_scan = relaxed_order;'
	  : 'SET ivfflat.probes = 3; SET ivfflat.iterative_scan = relaxed_order;';
	$scripts{"insert_$t"} = "INSERT INTO items_$t VALUES (nextval('ids'), random_vec(), (random() * 20)::int);\n";
	# half the updates and deletes hit the loaded rows, half the inserted ones
	my $pick = "\\set id CASE WHEN random(0, 1) = 0 THEN random(1, 5000) ELSE random(100000, 103000) END\n";
	$scripts{"update_$t"} = $pick
	  . "UPDATE items_$t SET embedding = random_vec() WHERE id = :id;\n";
	$scripts{"delete_$t"} = $pick . "DELETE FROM items_$t WHERE id = :id;\n";
	# a query whose result rows must all be live rows of the table
	for my $f ([ 'query', '' ], [ 'filtered', 'WHERE cat = 3' ])
	{
		my ($name, $where) = @$f;
		$scripts{"${name}_$t"} = "BEGIN;\n$set\n"
		  . "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM items_$t x WHERE x.id = r.id)) AS ghost "
		  . "FROM (SELECT id FROM items_$t $where ORDER BY embedding <-> random_vec() LIMIT 10) r \\gset\n"
		  . "\\if :ghost\nSELECT 1/0 AS a_deleted_row_was_returned;\n\\endif\nCOMMIT;\n";
	}
}
$scripts{vacuum} = "\\sleep 500 ms\nVACUUM items_h;\nVACUUM items_i;\n";

my @files = pgbench_files($tmp, \%scripts,
	sub { $_[0] eq 'vacuum' ? 1 : $_[0] =~ /^(query|filtered)/ ? 6 : 4 });

my ($out, $err) = ('', '');
my @cmd = ($node->installed_command('pgbench'), '-n', '-c', $clients, '-j', 2, '-T', $seconds,
	'--report-per-command', @files, $node->connstr('postgres'));
my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
my ($failed) = $out =~ /number of failed transactions: (\d+)/;
ok($ok, "pgbench ran $clients clients for $seconds s") or diag("$err\n$out");
unlike($err, qr/a_deleted_row_was_returned|division by zero/, 'no query returned a row that does not exist')
  or diag($err);
unlike($err, qr/ERROR|FATAL/, 'no operation failed') or diag($err);
diag("soak: $clients clients, $seconds s, " . ($tx // '?') . ' transactions');

for my $c ([ 'h', 'SET hnsw.ef_search = 400' ], [ 'i', 'SET ivfflat.probes = 20' ])
{
	my ($t, $set) = @$c;
	my $live = $node->safe_psql('postgres', "SELECT count(*) FROM items_$t");
	my $q = "SELECT count(*) FROM items_$t i WHERE "
	  . "(SELECT j.id FROM items_$t j ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id";
	like($node->safe_psql('postgres', "SET enable_seqscan = off; $set; EXPLAIN (COSTS OFF) $q"),
		qr/Index Scan using items_${t}_idx/, "items_$t: the self-lookup is an index scan");
	is($node->safe_psql('postgres', "SET enable_seqscan = off; $set; $q"), 0,
		"items_$t: every one of the $live live rows is found by its own vector");
	# a last VACUUM frees the slots of the rows deleted since the one
	# before, and no insert reuses them before the check: a node VACUUM
	# left unflagged on a freed slot is reported (a scan would return its
	# TID; the ghost check above cannot see that, since the executor skips
	# TIDs that lead to no visible row)
	$node->safe_psql('postgres', "VACUUM items_$t");
	is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('items_${t}_idx') p"),
		'', "items_$t: vector_index_check finds nothing wrong after a last VACUUM");
	diag("items_$t: $live live rows after the soak");
}

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
