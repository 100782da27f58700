'use strict';
/**
 * A store's writes as data (`WriteOp[]`), run in one transaction — on the SQLite writer thread
 * (sqlite-writer.ts) or, without one, on the caller's connection. Plain CommonJS so that the
 * worker, which has no TypeScript loader, runs the very same code as the main thread.
 *
 * An op is one statement run once (`sql`, `args`), or many rows of `width` values each (`args`
 * flat): `perStatement` rows at a time through `many` (a multi-row INSERT), the rest one by one
 * through `sql`. Rows apply in order, so with an upsert a key written twice ends with its later row.
 */

/** Prepared statements of one connection, by SQL text. */
function statements(db) {
  const cache = new Map();
  return (sql) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
}

function runOps(stmt, ops) {
  for (const op of ops) {
    if (op.many === undefined) {
      stmt(op.sql).run(op.args);
      continue;
    }
    const chunk = op.width * op.perStatement;
    let i = 0;
    if (op.args.length >= chunk) {
      const many = stmt(op.many);
      for (; i + chunk <= op.args.length; i += chunk) many.run(op.args.slice(i, i + chunk));
    }
    if (i < op.args.length) {
      const one = stmt(op.sql);
      for (; i < op.args.length; i += op.width) one.run(op.args.slice(i, i + op.width));
    }
  }
}

/** A function that runs a list of ops in one transaction on `db`. */
function transactionOf(db) {
  const stmt = statements(db);
  return db.transaction((ops) => runOps(stmt, ops));
}

module.exports = { transactionOf };
