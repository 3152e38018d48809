/**
 * commander, required as the CommonJS package it is. Imported as an ES module, node would first
 * load its scanner of CommonJS exports (cjs-module-lexer) to find the package's names: 15 ms of
 * every run, before any command starts.
 */
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof Commander;

export const Command = commander.Command;
export type Command = Commander.Command;
export const CommanderError = commander.CommanderError;
export type CommanderError = Commander.CommanderError;
export const Option = commander.Option;
export type Option = Commander.Option;
