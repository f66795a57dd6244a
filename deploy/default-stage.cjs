'use strict';

/**
 * The stage when the command line names none (`--stage` always wins):
 * - `local` for the commands that run the functions on this machine, `serverless invoke local`
 *   and `serverless offline`: their environment then follows the shell (see `params.local` in
 *   serverless.yml), as the contract's local runs require;
 * - `dev` for everything else (package, deploy, info, remove, ...).
 */
module.exports = () => {
  const [command, subcommand] = process.argv.slice(2);
  const runsLocally = command === 'offline' || (command === 'invoke' && subcommand === 'local');
  return runsLocally ? 'local' : 'dev';
};
