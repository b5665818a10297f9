# hnsw: a scan on a hot standby walking a duplicate chain while the primary
# frees the chain's dead members and new rows take their slots.
#
# On a primary, VACUUM frees a member it took out of a chain only after a
# cleanup lock on the head's page, which a scan walking the chain keeps
# pinned (test/specs/hnsw_chain_vacuum.spec).  A standby replays the
# freeing whatever its own scans pin, so there a scan checks each member's
# stamp (when it joined the chain): a member newer than the one before it,
# or than the scan's start, sits in a slot freed and taken since, and the
# walk stops there.
#
# Ten equal vectors form one chain, 1001 (the head), 1010, 1009, ..., 1002;
# 1002-1009 are deleted.  A cursor on the standby returns 1001 and 1010 and
# stops with its next step on deleted 1009.  The primary then runs VACUUM
# (which frees 1002-1009's slots: nothing on the primary pins the head's
# page) and inserts eight more equal rows, which take those slots and are
# hung right after the head.  Once the standby has replayed them, the
# cursor goes on.  Without the stamp check it read 1009's slot, now a new
# row, and came round to 1010 a second time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use VectorTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"autovacuum = off\nmax_parallel_maintenance_workers = 0\nmax_standby_streaming_delay = -1");
$primary->start;
# 1010 goes on another heap page than 1002-1009, behind far-off rows: the
# cursor keeps the page of its last row pinned, and replaying the pruning
# of a page a standby query pins would wait for it
$primary->safe_psql('postgres', <<'SQL');
CREATE EXTENSION vector;
CREATE TABLE items (id int PRIMARY KEY, embedding vector(2));
INSERT INTO items SELECT i, ARRAY[i % 20, i / 20]::vector FROM generate_series(0, 399) i;
INSERT INTO items SELECT i, '[5.3,5.2]' FROM generate_series(1001, 1009) i;
INSERT INTO items SELECT i, ARRAY[i, 100]::vector FROM generate_series(3000, 3299) i;
INSERT INTO items VALUES (1010, '[5.3,5.2]');
CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)
	WITH (m = 16, ef_construction = 32);
DELETE FROM items WHERE id BETWEEN 1002 AND 1009;
SQL
my $size = $primary->safe_psql('postgres', "SELECT pg_relation_size('items_embedding_idx')");
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $query = "SELECT id FROM items ORDER BY embedding <-> '[5.3,5.2]'";
like($standby->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $query"),
	qr/Index Scan using items_embedding_idx/, 'the standby query is an hnsw index scan');

my ($h, $out, $err) = psql_bg($standby, <<"SQL");
\\pset format unaligned
\\pset tuples_only on
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
BEGIN;
DECLARE c CURSOR FOR $query;
FETCH 2 FROM c;
DO \$\$BEGIN
  WHILE (SELECT count(*) FROM items WHERE id BETWEEN 2001 AND 2008) < 8 LOOP
    PERFORM pg_sleep(0.05);
  END LOOP;
END\$\$;
FETCH 4 FROM c;
COMMIT;
SQL
$standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
  or die 'the standby cursor did not reach its wait';

$primary->safe_psql('postgres', 'VACUUM items');
$primary->safe_psql('postgres',
	"INSERT INTO items SELECT i, '[5.3,5.2]' FROM generate_series(2001, 2008) i");
is($primary->safe_psql('postgres', "SELECT pg_relation_size('items_embedding_idx')"),
	$size, 'the new rows took the freed slots of 1002-1009 on the primary');
$h->finish;
is($$err, '', 'the standby cursor saw no error');
is(join(',', split /\n/, $$out), '1001,1010,105,106,125,126',
	'the standby cursor returns 1001 and 1010 once each, then the nearest grid rows');

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT string_agg(id::text, ',' ORDER BY id) FROM "
		  . "(SELECT id FROM items ORDER BY embedding <-> '[5.3,5.2]' LIMIT 10) s"),
	'1001,1010,2001,2002,2003,2004,2005,2006,2007,2008',
	'a new query on the standby returns the ten equal rows');
is($primary->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_embedding_idx')"),
	0, 'vector_index_check finds nothing wrong on the primary');

$standby->stop;
$primary->stop;
done_testing();
