using System.CommandLine;
using GtaIlgpu.Cli.Commands;

var root = new RootCommand("gta — GTA (Guess–Think–Answer) fine-tuning on hand-written ILGPU kernels");
root.Subcommands.Add(PretrainCommand.Build());
root.Subcommands.Add(DataCommand.Build());
root.Subcommands.Add(BaseCommand.Build());
root.Subcommands.Add(TrainCommand.Build());
root.Subcommands.Add(CompareCommand.Build());
root.Subcommands.Add(ReportCommand.Build());
root.Subcommands.Add(EvalCommand.Build());
root.Subcommands.Add(GenerateCommand.Build());
root.Subcommands.Add(LogprobsCommand.Build());
root.Subcommands.Add(ExportCommand.Build());
root.Subcommands.Add(BenchCommand.Build());
root.Subcommands.Add(PlanCommand.Build());
return CliErrors.Invoke(root, args);
