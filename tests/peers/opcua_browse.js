// An OPC UA client that is not ours (node-opcua): browse the whole Objects tree of a server,
// read every variable, optionally write one, and print JSON {variables: [{path, nodeId, value}], write}.
// usage: node opcua_browse.js ENDPOINT [NODEID VALUE]
const { OPCUAClient, AttributeIds, DataType, MessageSecurityMode, SecurityPolicy, NodeClass } = require("node-opcua-client");

// node-opcua returns Int64 as [high, low] 32-bit words
function toNumber(v) {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v) && v.length === 2) return v[0] * 2 ** 32 + v[1];
  return Number(v);
}

async function walk(session, nodeId, path, out, depth) {
  if (depth > 10) return;
  const result = await session.browse({ nodeId, browseDirection: 0, referenceTypeId: "HierarchicalReferences",
    includeSubtypes: true, resultMask: 63 });
  for (const ref of result.references || []) {
    const name = ref.browseName.name;
    if (path.length === 0 && (name === "Server" || name === "Aliases" || name === "Locations")) continue;
    const child = ref.nodeId.toString();
    if (ref.nodeClass === NodeClass.Variable) {
      const dv = await session.read({ nodeId: child, attributeId: AttributeIds.Value });
      out.push({ path: [...path, name].join("/"), nodeId: child, value: toNumber(dv.value.value),
                 status: dv.statusCode.name });
    } else if (ref.nodeClass === NodeClass.Object) {
      await walk(session, child, [...path, name], out, depth + 1);
    }
  }
}

(async () => {
  const [endpoint, writeNode, writeValue] = process.argv.slice(2);
  const client = OPCUAClient.create({ endpointMustExist: false, securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None, connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 } });
  await client.connect(endpoint);
  const session = await client.createSession();
  const variables = [];
  await walk(session, "ns=0;i=85", [], variables, 0);
  let write = null;
  if (writeNode) {
    try {
      const status = await session.write({ nodeId: writeNode, attributeId: AttributeIds.Value,
        value: { value: { dataType: DataType.Double, value: Number(writeValue) } } });
      write = status.name;
    } catch (err) {  // a service fault: report its status code
      const match = String(err).match(/Bad\w+/);
      write = match ? match[0] : String(err);
    }
  }
  console.log(JSON.stringify({ variables, write }));
  await session.close();
  await client.disconnect();
})().catch((err) => { console.error(String(err)); process.exit(1); });
