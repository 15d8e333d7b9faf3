/** rvss schedule create|list|describe|pause|unpause|run|delete: cron schedules of managed backups. */
import { Option } from "commander";
import { ListSchedulesResponse, Schedule } from "@rvss/proto";
import { confirmed } from "../confirm";
import { datasetFrom, keepLastFrom, writerErrorPolicy } from "../dataset";
import { describeSchedule } from "../format";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";
import { selectionOptions } from "./backup";

const COLUMNS: Column<Schedule>[] = [
  { header: "name", value: (s) => s.name },
  { header: "cron", value: (s) => s.cron },
  { header: "timezone", value: (s) => s.timezone },
  { header: "paused", value: (s) => (s.paused ? "yes" : "no") },
  { header: "next", value: (s) => s.nextTick?.toISOString() ?? "" },
  { header: "last backup", value: (s) => s.lastBackupId },
  { header: "ttl", value: (s) => s.ttl, wide: true },
  { header: "keep last", value: (s) => (s.keepLast ? String(s.keepLast) : ""), wide: true },
];

export const scheduleVerbs: Register = (program, run) => {
  const schedule = program
    .command("schedule")
    .description("cron schedules: backups of a dataset at every tick, once across coordinator replicas");
  selectionOptions(
    schedule
      .command("create")
      .description("a schedule of backups of a dataset")
      .argument("<name>", "the schedule's name (its backups are <name>-<yyyymmddhhmmss>)"),
  )
    .requiredOption("--cron <expr>", 'five fields (minute hour day month weekday), e.g. "0 1 * * *"; six with seconds')
    .option("--timezone <tz>", "IANA time zone of the cron expression (default UTC)")
    .option("--ttl <duration>", "how long each backup is kept, Velero's syntax: 720h, 1h30m")
    .option("--keep-last <n>", "keep the n most recent completed backups per SVM")
    .option("--description <text>", "a note kept with its backups")
    .option("--paused", "create it paused")
    .addOption(
      new Option("--on-writer-error <policy>", "when a writer fails: abort the set, or snapshot anyway").choices([
        "fail",
        "continue",
      ]),
    )
    .addOption(outputOption())
    .action(
      run(async (s, name: string, o) => {
        const dataset = datasetFrom("schedule create", o);
        const created = await s.schedules().create({
          name,
          cron: o.cron,
          timezone: o.timezone ?? "",
          dataset: dataset.items,
          description: o.description ?? dataset.description,
          ttl: o.ttl ?? dataset.ttl,
          keepLast: o.keepLast !== undefined ? keepLastFrom(o.keepLast) : dataset.keepLast,
          onWriterError: o.onWriterError ? writerErrorPolicy(o.onWriterError) : dataset.onWriterError,
          paused: o.paused === true,
        });
        printer(o.output).item(
          () => `schedule ${created.name} created; next tick ${created.nextTick?.toISOString() ?? "- (paused)"}`,
          Schedule.toJSON(created),
        );
        return 0;
      }),
    );
  schedule
    .command("list")
    .description("every schedule, its next tick and last backup")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const schedules = await s.schedules().list();
        printer(o.output).list(schedules, COLUMNS, ListSchedulesResponse.toJSON({ schedules }), "no schedules");
        return 0;
      }),
    );
  const one = (verb: string, description: string, call: "get" | "pause" | "unpause"): void => {
    schedule
      .command(verb)
      .description(description)
      .argument("<name>", "the schedule")
      .addOption(outputOption())
      .action(
        run(async (s, name: string, o) => {
          const got = await s.schedules()[call](name);
          printer(o.output).item(() => describeSchedule(got), Schedule.toJSON(got));
          return 0;
        }),
      );
  };
  one("describe", "one schedule and its latest ticks: fired (which backup), skipped, missed", "get");
  one("pause", "stop its ticks (it stays, with its backups)", "pause");
  one("unpause", "tick again from now on (ticks during the pause never fire)", "unpause");
  schedule
    .command("run")
    .description("a backup of the schedule now, outside its ticks")
    .argument("<name>", "the schedule")
    .action(
      run(async (s, name: string) => {
        const id = await s.schedules().runNow(name);
        console.log(`backup ${id} started; follow it with: rvss backup describe ${id}`);
        return 0;
      }),
    );
  schedule
    .command("delete")
    .description("remove the schedule; its backups stay")
    .argument("<name>", "the schedule")
    .option("--confirm", "do not ask")
    .action(
      run(async (s, name: string, o) => {
        if (!(await confirmed(`schedule ${name} (its backups stay)`, o.confirm))) return 1;
        await s.schedules().delete(name);
        console.log(`schedule ${name} deleted; its backups stay`);
        return 0;
      }),
    );
};
