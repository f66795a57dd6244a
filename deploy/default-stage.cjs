'use strict';

/**
 * The stage when the command line names none (`--stage` always wins):
 * - `local` for `serverless invoke local`, which runs a function on this machine: its environment
 *   then follows the shell (see `params.local` in serverless.yml), as the contract's local runs
 *   require (`npm start` names `--stage local` itself);
 * - `dev` for everything else (package, deploy, info, remove, ...).
 */
module.exports = () => {
  const [command, subcommand] = process.argv.slice(2);
  const runsLocally = command === 'invoke' && subcommand === 'local';
  return runsLocally ? 'local' : 'dev';
};
