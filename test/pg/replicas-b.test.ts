/** Half of the HA kill test (test/pg/replicas-kills.ts): pair b, its own PostgreSQL, half of QW_KILLS (default 20). */
import { registerReplicaKills } from './replicas-kills.ts';

const KILLS = Number(process.env.QW_KILLS ?? 20);
registerReplicaKills(Math.floor(KILLS / 2), 'pair b');
