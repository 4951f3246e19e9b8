/**
 * The OpenStack platform (`platform: openstack`): config block, security-group rule table,
 * resource options and the `opke:openstack:Cluster` component.
 */
export * from "./config";
export * from "./rules";
export * from "./options";
export * from "./component";
