# hnsw node pages past a full run table (issue 16, item 4).
#
# Node ids map to blocks through the metapage's run table; every chunk of
# node pages added after an item or upper page starts a new run.  Chunks
# used to stop growing at 2,048 pages, so an index grown by inserts filled
# the table (600 runs, about 15 million nodes at 128 dimensions) and every
# insert that needed a new page failed with "too many node page runs" until
# a REINDEX.  Now the cap goes once two thirds of the table are used, and a
# chunk's pages are written only when used, so a big chunk costs no more
# than a small one.
#
# hnsw.test_max_runs (a hidden test setting) shrinks the table to 60 runs
# and chunks to one page while it has room.  A sparsevec index, whose items
# live on item pages appended between the node chunks, makes one run per
# chunk.  6,000 rows need 120 node pages: with the cap kept (the old rule)
# the inserts fail at about 3,000 rows.  Checked:
#   - every insert succeeds;
#   - after a VACUUM (which links again the rare node an insert's back-link
#     left unreachable), vector_index_check() finds nothing wrong (runs,
#     pages, reachability);
#   - each of 200 sampled rows is the nearest row to its own vector through
#     the index: an id mapped to the wrong block (a run published wrong, a
#     page of a chunk initialised over another) returns another row;
#   - the same on a streaming standby (redo extends the relation from the
#     chunk's last page and initialises each page from its first node's
#     full image), and after an immediate shutdown and recovery, after
#     which 1,000 more rows go in and are found.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $primary = PostgreSQL::Test::Cluster->new('runs_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "max_parallel_workers_per_gather = 0\nautovacuum = off");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
$primary->safe_psql('postgres',
	'CREATE TABLE items (id int PRIMARY KEY, v sparsevec(1000));'
	  . 'CREATE INDEX items_v ON items USING hnsw (v sparsevec_l2_ops)');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('runs_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# 100 rows from a seeded random(): 30 nonzero elements at fixed positions
# (so that the items are 30-dimensional points, which a graph searches
# well, and long enough to fill an item page every few dozen rows), each a
# random value to two decimals (two equal rows are vanishingly unlikely, so
# each row's nearest row is itself)
sub insert_rows
{
	my ($from, $to) = @_;
	return "SELECT setseed($from / 100000.0); "
	  . "INSERT INTO items SELECT i, ('{' || (SELECT string_agg((j * 33 + 1) || ':' "
	  . "|| round((random() * 10 + 0.01)::numeric, 2), ',' ORDER BY j) "
	  . "FROM generate_series(0, 29) j WHERE i > 0) || '}/1000')::sparsevec FROM generate_series($from, $to) i";
}

# rows $from .. $to in statements of 100 rows, under a 60-run table: the
# first error, or ''
sub insert_all
{
	my ($from, $to) = @_;
	for (my $i = $from; $i <= $to; $i += 100)
	{
		my ($ret, $out, $err) = $primary->psql('postgres',
			'SET hnsw.test_max_runs = 60; ' . insert_rows($i, $i + 99));
		return "rows $i-" . ($i + 99) . ": $err" if $ret != 0;
	}
	return '';
}

is(insert_all(1, 6000), '', '6,000 single-statement inserts of 100 rows past a 60-run table succeed');

# each sampled row, looked up by its own vector through the index, comes
# back first
sub self_found
{
	my ($node, $ids) = @_;
	my $list = join ',', @$ids;
	return $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = 100; "
		  . "SELECT count(*) FROM items s WHERE s.id IN ($list) AND "
		  . "s.id = (SELECT i.id FROM items i ORDER BY i.v <-> s.v LIMIT 1)");
}

sub check_all
{
	my ($node, $ids, $when) = @_;
	like(
		$node->safe_psql('postgres',
			"SET enable_seqscan = off; SET hnsw.ef_search = 100; EXPLAIN (COSTS OFF) "
			  . "SELECT id FROM items ORDER BY v <-> '{1:1}/1000' LIMIT 1"),
		qr/Index Scan using items_v/, "$when: the lookups use the index");
	is(self_found($node, $ids), scalar(@$ids), "$when: every sampled row is found first by its own vector");
	return;
}

# an insert's back-link can push out another node's last incoming link;
# VACUUM links such nodes again (its pass 4), as autovacuum would
$primary->safe_psql('postgres', 'VACUUM items');
my @sample = map { 1 + $_ * 30 } 0 .. 199;
is($primary->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_v')"),
	0, 'vector_index_check finds nothing wrong');
check_all($primary, \@sample, 'primary');

$primary->wait_for_catchup($standby);
check_all($standby, \@sample, 'standby');

$primary->stop('immediate');
$primary->start;
check_all($primary, \@sample, 'after crash recovery');
is(insert_all(6001, 7000), '', '1,000 more rows go in after recovery');
$primary->safe_psql('postgres', 'VACUUM items');
is($primary->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_v')"),
	0, 'vector_index_check still finds nothing wrong');
check_all($primary, [ @sample, map { 6001 + $_ * 10 } 0 .. 99 ], 'after more inserts');

$primary->wait_for_catchup($standby);
check_all($standby, [ @sample, map { 6001 + $_ * 10 } 0 .. 99 ], 'standby after more inserts');

$standby->stop;
$primary->stop;
done_testing();
