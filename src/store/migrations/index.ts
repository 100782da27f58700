/**
 * Versioned PostgreSQL migrations. Each one runs once, in order, inside one transaction with the
 * schema_migrations row that records it; a database whose schema is newer than the newest migration
 * here is refused (an older quietwatch must not write into a newer schema).
 *
 * Add a migration by appending to MIGRATIONS with the next version; never edit a released one.
 * Times are epoch milliseconds (BIGINT) like the SQLite store, so rows move between the two as they are.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema: check state, flips, alerts, probes, learned models, leader lease',
    sql: `
CREATE TABLE check_state (
  name TEXT PRIMARY KEY,
  state JSONB NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE flips (
  id BIGSERIAL PRIMARY KEY,
  check_name TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status TEXT NOT NULL,
  at BIGINT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX flips_by_check ON flips (check_name, id);
CREATE INDEX flips_by_time ON flips (at);

CREATE TABLE alert_incidents (
  id TEXT PRIMARY KEY,
  check_name TEXT NOT NULL,
  status TEXT NOT NULL,
  opened_at BIGINT NOT NULL,
  data JSONB NOT NULL
);
CREATE INDEX alert_incidents_check ON alert_incidents (check_name, status);
CREATE INDEX alert_incidents_opened ON alert_incidents (opened_at);
CREATE TABLE alert_outbox (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  notifier TEXT NOT NULL,
  incident_id TEXT,
  notification JSONB NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT,
  last_error_code TEXT,
  last_error TEXT,
  permanent BOOLEAN NOT NULL DEFAULT false,
  -- the fencing token of the leader that last claimed the row for sending, and when
  claimed_token BIGINT,
  claimed_at BIGINT
);
CREATE INDEX alert_outbox_status ON alert_outbox (status, next_attempt_at);
CREATE INDEX alert_outbox_incident ON alert_outbox (incident_id);
CREATE TABLE alert_receipts (
  notifier TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  receipt JSONB NOT NULL,
  PRIMARY KEY (notifier, incident_id)
);
CREATE TABLE alert_silences (
  id TEXT PRIMARY KEY,
  starts_at BIGINT NOT NULL,
  ends_at BIGINT NOT NULL,
  data JSONB NOT NULL
);

CREATE TABLE probes (
  id TEXT PRIMARY KEY,
  check_name TEXT NOT NULL,
  reason TEXT NOT NULL,
  driver TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  fired_at BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  charged_at BIGINT,
  result TEXT NOT NULL,
  latency_ms BIGINT,
  reference TEXT,
  cost_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  settled_at BIGINT,
  reversed_at BIGINT,
  reversal_error TEXT,
  -- the fencing token of the leader that reserved the budget for it / last claimed a charge attempt
  fence_token BIGINT
);
CREATE INDEX probes_check_fired ON probes (check_name, fired_at);
CREATE INDEX probes_fired ON probes (fired_at);
CREATE INDEX probes_pending ON probes (result) WHERE result IN ('pending', 'accepted');

CREATE TABLE learn_models (
  check_name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state JSONB NOT NULL,
  saved_at BIGINT NOT NULL
);

-- One row per lease (name 'leader'). token grows by one at every change of holder (a new term),
-- never goes back: claims carry it and are refused once a newer term exists or the lease lapsed.
CREATE TABLE qw_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  renewed_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'ingest relay (events accepted by any replica, applied by the leader); incident members',
    sql: `
-- Every replica commits accepted events here before answering 202; the leader takes them out
-- (DELETE … RETURNING, in the transaction that applies them) and runs them through the checks.
CREATE TABLE ingest_events (
  seq BIGSERIAL PRIMARY KEY,
  stream TEXT NOT NULL,
  check_name TEXT,
  arrived_at BIGINT NOT NULL,
  time BIGINT NOT NULL,
  event_id TEXT,
  attributes JSONB NOT NULL,
  replica TEXT NOT NULL
);

-- grouped incidents: the checks of each incident (one row per incident and member check)
CREATE TABLE alert_members (
  incident_id TEXT NOT NULL,
  check_name TEXT NOT NULL,
  status TEXT NOT NULL,
  data JSONB NOT NULL,
  PRIMARY KEY (incident_id, check_name)
);
CREATE INDEX alert_members_check ON alert_members (check_name);
CREATE INDEX alert_outbox_notifier ON alert_outbox (notifier, status, seq);
`,
  },
  {
    version: 3,
    name: 'ingest relay by batch (one row per accepted batch, not per event)',
    sql: `
-- One row per accepted batch: the events as the API accepted them (JSON array of IngestEvent), so a
-- batch of 1,000 is one tuple to insert and one to delete, not 1,000 of each. ingest_events stays
-- for replicas of the previous version during a rolling upgrade (the leader drains both).
CREATE TABLE ingest_batches (
  seq BIGSERIAL PRIMARY KEY,
  n INTEGER NOT NULL,
  events JSON NOT NULL,
  replica TEXT NOT NULL
);
`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
