// @rvss/sqlite-writer: the reference writer (SQLite databases on a share).
export { Workload, inspectDatabase, recoverDatabase, type Checkpoint } from "./workload";
export {
  formatCheckpoint,
  parseCheckpoint,
  startSqliteWriter,
  type SqliteWriter,
  type SqliteWriterOptions,
} from "./writer";
