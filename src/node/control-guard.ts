import type { Msg, NatsConnection, SubscriptionOptions } from "nats";

type Services = NatsConnection["services"];

/** Subjects of the NATS micro service protocol (`$SRV.PING|INFO|STATS[.name[.id]]`). */
const CONTROL_PREFIX = "$SRV.";

/**
 * The micro service framework of nats.js for a connection whose `$SRV.*` requests are filtered
 * by `accept` before the framework sees them. nats.js answers PING, INFO and STATS itself, on
 * whatever reply subject the request names; through this view a request whose reply subject
 * is not an inbox never reaches it, so a user allowed to ask `$SRV.PING` (the operator) cannot
 * make every node publish on a subject of its choosing. The client API's own subjects are
 * guarded where they are served (service.ts); this covers the framework's.
 */
export function guardedServices(nc: NatsConnection, accept: (msg: Msg) => boolean): Services {
  const view = new Proxy(nc, {
    get(target, prop) {
      if (prop === "subscribe") {
        return (subject: string, options: SubscriptionOptions = {}) => {
          const callback = options.callback;
          if (!subject.startsWith(CONTROL_PREFIX) || callback === undefined) {
            return target.subscribe(subject, options);
          }
          return target.subscribe(subject, {
            ...options,
            callback: (err, msg) => {
              if (err !== null || accept(msg)) callback(err, msg);
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  // nats.js builds services from a factory bound to one connection; a factory bound to the
  // view makes every subscription of the service go through the filter above.
  const Factory = nc.services.constructor as new (nc: NatsConnection) => Services;
  return new Factory(view);
}
